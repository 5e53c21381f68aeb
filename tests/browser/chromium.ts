/**
 * Real headless Chromium for the browser tests, through playwright-core and Debian's
 * `chromium`. When it is missing on a developer's machine the tests say so and are skipped;
 * in CI (CI=true) they always run, and fail loudly if Chromium cannot start.
 */
import type { Browser } from "playwright-core";

/** Where Debian (and `.ci/run`) installs Chromium; PARLEY_CHROMIUM overrides it. */
export const CHROMIUM_PATH = Deno.env.get("PARLEY_CHROMIUM") ?? "/usr/bin/chromium";

const inCi = Deno.env.get("CI") === "true";

/** True when the browser tests cannot run here and are skipped. */
export const skipBrowser: boolean = !inCi && !exists(CHROMIUM_PATH);

if (skipBrowser) {
  console.warn(
    `Browser tests skipped: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set PARLEY_CHROMIUM).`,
  );
}

/**
 * Flags for a closed network: without the background-networking ones Chromium waits on
 * services it cannot reach.
 */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Fake camera and microphone (a test pattern and a beep), granted without a prompt: for calls.
 */
export const FAKE_MEDIA_ARGS = [
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
];

/**
 * Launches Chromium with a fresh profile (playwright makes a temporary user-data-dir), with
 * `extraArgs` after the usual flags.
 */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  // playwright-core probes for WSL at import time by reading /proc/sys/fs/binfmt_misc, which
  // Deno only allows under --allow-all; this switch of its `is-wsl` makes the probe lazy (it is
  // only used to open files in a desktop app, which the tests never do).
  Deno.env.set("__IS_WSL_TEST__", "1");
  const { chromium } = await import("playwright-core");
  return await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...ARGS, ...extraArgs],
    timeout: 30_000,
  });
}

/**
 * A test with its own Chromium, closed after it. Chromium and its pipes outlive single ops, so
 * the op and resource sanitizers are off.
 */
export function browserTest(
  name: string,
  fn: (browser: Browser) => Promise<void>,
  options: { args?: string[] } = {},
): void {
  Deno.test({
    name,
    ignore: skipBrowser,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const browser = await launchChromium(options.args);
      try {
        await fn(browser);
      } finally {
        await browser.close();
      }
    },
  });
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
