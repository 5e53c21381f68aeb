/**
 * Builds the browser assets: bundles islands/main.tsx with `deno bundle`, adds the stylesheet
 * and icon, names each by a hash of its content, and writes them all into one JSON module,
 * static/build/assets.json, which the server imports. Being a module, it is embedded by
 * `deno compile` like any other, so a compiled server reads no file of the source tree.
 *
 *   deno task build              always build
 *   deno task build --if-stale   build only when a source changed since the last build
 */
import { ASSET_MODULE_PATH, type AssetManifest, type BuiltAsset } from "./server/assets.ts";

const ROOT = new URL("./", import.meta.url);
const ENTRY = "islands/main.tsx";
/** Everything the bundle can depend on; a change to any of it makes the build stale. */
const INPUTS = [
  "islands",
  "lib",
  "static",
  "deno.json",
  "deno.lock",
  "build.ts",
  "server/assets.ts",
];
const SKIP = ["static/build"];

/** Builds unless `ifStale` and the assets are current; returns whether it built. */
export async function build(
  options: { ifStale?: boolean; quiet?: boolean } = {},
): Promise<boolean> {
  const log = options.quiet ? () => {} : (m: string) => console.error(m);
  const sourceHash = await hashInputs();
  const out = new URL(ASSET_MODULE_PATH, ROOT);
  if (options.ifStale) {
    const current = await readManifest(out);
    if (current?.sourceHash === sourceHash) return false;
    log(
      current ? "Browser assets are stale; rebuilding." : "Browser assets are missing; building.",
    );
  }
  const started = performance.now();
  const script = await bundle();
  const style = await Deno.readTextFile(new URL("static/styles.css", ROOT));
  const icon = await Deno.readTextFile(new URL("static/icon.svg", ROOT));
  const manifest: AssetManifest = {
    sourceHash,
    script: await asset("app", "js", "text/javascript; charset=utf-8", script),
    style: await asset("styles", "css", "text/css; charset=utf-8", style),
    icon: await asset("icon", "svg", "image/svg+xml", icon),
  };
  await Deno.mkdir(new URL(".", out), { recursive: true });
  // Written whole, then renamed: a server starting meanwhile never reads half a file.
  const tmp = new URL(`${ASSET_MODULE_PATH}.tmp`, ROOT);
  await Deno.writeTextFile(tmp, JSON.stringify(manifest));
  await Deno.rename(tmp, out);
  const kib = (script.length / 1024).toFixed(1);
  log(
    `Built ${manifest.script.path} (${kib} KiB) in ${Math.round(performance.now() - started)} ms`,
  );
  return true;
}

async function bundle(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "parley-bundle-" });
  try {
    const output = `${dir}/app.js`;
    const { success, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "--minify", "--output", output, ENTRY],
      cwd: ROOT,
      stdout: "inherit",
      stderr: "piped",
    }).output();
    if (!success) {
      throw new Error(`deno bundle ${ENTRY} failed:\n${new TextDecoder().decode(stderr)}`);
    }
    return await Deno.readTextFile(output);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function asset(name: string, ext: string, type: string, body: string): Promise<BuiltAsset> {
  const hash = (await sha256(body)).slice(0, 12);
  return { path: `/static/${name}.${hash}.${ext}`, type, body, etag: `"${hash}"` };
}

async function readManifest(url: URL): Promise<AssetManifest | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(url));
  } catch {
    return undefined;
  }
}

/** One hash over the paths and contents of every input file, in a stable order. */
async function hashInputs(): Promise<string> {
  const files: string[] = [];
  for (const input of INPUTS) await collect(input, files);
  files.sort();
  const parts: string[] = [];
  for (const file of files) parts.push(file, await Deno.readTextFile(new URL(file, ROOT)));
  return await sha256(parts.join("\0"));
}

async function collect(path: string, files: string[]): Promise<void> {
  if (SKIP.includes(path)) return;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(new URL(path, ROOT));
  } catch {
    return;
  }
  if (info.isFile) return void files.push(path);
  for await (const entry of Deno.readDir(new URL(path, ROOT))) {
    await collect(`${path}/${entry.name}`, files);
  }
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

if (import.meta.main) {
  try {
    const built = await build({ ifStale: Deno.args.includes("--if-stale") });
    if (!built) console.error("Browser assets are up to date.");
  } catch (err) {
    console.error(`parley build: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
