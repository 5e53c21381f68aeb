/**
 * Makes the README's picture of a video call between two browser users, with Chromium's fake
 * camera (its test pattern) on both sides:
 *
 *   deno run -A tests/browser/screenshot_call.ts     writes docs/screenshot-call.png
 */
import { startWebServer } from "../web_helpers.ts";
import { FAKE_MEDIA_ARGS, launchChromium } from "./chromium.ts";
import { PageUser } from "./page_user.ts";
import { connectionState, panel, received, until, watchPeerConnections } from "./call_user.ts";

const DOCS = new URL("../../docs/", import.meta.url);

const server = await startWebServer();
const browser = await launchChromium(FAKE_MEDIA_ARGS);
try {
  const alice = await PageUser.open(browser, "alice");
  const bob = await PageUser.open(browser, "bob");
  await alice.page.setViewportSize({ width: 1200, height: 760 });
  for (const u of [alice, bob]) await watchPeerConnections(u);
  await alice.signIn(server.url, { register: true });
  await bob.signIn(server.url, { register: true });
  await bob.open("alice");
  await bob.say("Got a minute? I'd like to show you the new dashboard.");
  await alice.open("bob");
  await alice.sees("new dashboard");
  await alice.say("Sure, call me!");
  await bob.sees("call me");
  await bob.page.click('.call-buttons button[data-media="video"]');
  await panel(alice, "incoming").waitFor();
  await alice.page.click(".call-panel .call-accept");
  for (const u of [alice, bob]) {
    await until(() => connectionState(u.page), (s) => s === "connected", "connected");
    await until(() => received(u.page), (r) => r.video > 50_000, "video flowing");
  }
  // A few seconds in, so the duration shows it.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await Deno.mkdir(DOCS, { recursive: true });
  await alice.page.screenshot({ path: new URL("screenshot-call.png", DOCS).pathname });
  console.log("wrote docs/screenshot-call.png");
  await alice.close();
  await bob.close();
} finally {
  await browser.close();
  await server.close();
}
