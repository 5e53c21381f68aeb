/**
 * The terminal client's device id: made once per install and kept in the user's config
 * directory beside known_servers, so the server keeps one cursor for this install and a restart
 * catches up from where it stood. Uses Deno file APIs; the browser bundle never imports it.
 */
import { dirname } from "node:path";
import type { EnvLookup } from "../../crypto/known_servers.ts";

/** What the device file holds: 1-64 printable ASCII characters without spaces. */
const DEVICE_ID = /^[\x21-\x7e]{1,64}$/;

/**
 * Where the device id lives: `$XDG_CONFIG_HOME/parley/device`, else `~/.config/parley/device`
 * (on Windows `%APPDATA%\parley\device`); undefined when no home directory is known.
 */
export function defaultDevicePath(env: EnvLookup = (n) => Deno.env.get(n)): string | undefined {
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg) return `${xdg}/parley/device`;
  const appData = Deno.build.os === "windows" ? env("APPDATA") : undefined;
  if (appData) return `${appData}\\parley\\device`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (home) return `${home}/.config/parley/device`;
}

/** The device id read from or written to `path`; `created` when this run made it. */
export interface DeviceId {
  id: string;
  path: string;
  created: boolean;
}

/**
 * Reads the device id kept at `path`, or makes a new one (a UUID) and keeps it there. A file
 * that holds something else is replaced, since an id the server refuses would only stop the
 * sign-in.
 * @throws the file system's error when the id can be neither read nor written.
 */
export async function loadDeviceId(path: string): Promise<DeviceId> {
  try {
    const id = (await Deno.readTextFile(path)).trim();
    if (DEVICE_ID.test(id)) return { id, path, created: false };
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const id = crypto.randomUUID();
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Written whole under another name, then renamed: a crash leaves the old id or the new one.
  const tmp = `${path}.${id.slice(0, 8)}.tmp`;
  await Deno.writeTextFile(tmp, `${id}\n`, { mode: 0o600 });
  await Deno.rename(tmp, path);
  return { id, path, created: true };
}
