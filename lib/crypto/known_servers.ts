/**
 * The terminal client's known-servers file: `host:port SHA256:…` lines in the user's config
 * directory, like OpenSSH's known_hosts. The first connection to a server pins its identity
 * (trust on first use); a later connection that presents another identity is refused with a
 * loud warning that says exactly which line to remove once the new fingerprint is verified.
 * Uses Deno file APIs; the browser bundle never imports it.
 */
import { CryptoError } from "./errors.ts";
import { fingerprintsEqual, type IdentityVerifier, isFingerprint } from "./fingerprint.ts";

/** Reads an environment variable; injectable for tests. */
export type EnvLookup = (name: string) => string | undefined;

/**
 * Where the known-servers file lives: `$XDG_CONFIG_HOME/parley/known_servers`, else
 * `~/.config/parley/known_servers` (on Windows `%APPDATA%\parley\known_servers`).
 * @throws {CryptoError} `invalid_argument` when no home directory is known.
 */
export function defaultKnownServersPath(env: EnvLookup = (n) => Deno.env.get(n)): string {
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg) return `${xdg}/parley/known_servers`;
  const appData = Deno.build.os === "windows" ? env("APPDATA") : undefined;
  if (appData) return `${appData}\\parley\\known_servers`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (home) return `${home}/.config/parley/known_servers`;
  throw new CryptoError(
    "invalid_argument",
    "Cannot find a config directory for known_servers: set XDG_CONFIG_HOME or HOME.",
  );
}

/** The name a server is pinned under: `host:port`, host lower-cased, IPv6 in brackets. */
export function serverName(host: string, port: number): string {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h.includes(":") ? `[${h}]:${port}` : `${h}:${port}`;
}

/** One pin of the known-servers file. */
export interface PinEntry {
  server: string;
  fingerprint: string;
  /** 1-based line number in the file. */
  line: number;
}

/** A server presented an identity other than the one pinned for it. */
export class IdentityChangedError extends CryptoError {
  /** `host:port` as pinned. */
  readonly server: string;
  /** The pinned fingerprint. */
  readonly pinned: string;
  /** The fingerprint the server presented. */
  readonly presented: string;
  /** The known-servers file. */
  readonly path: string;
  /** The line of the pin to remove after verifying the new fingerprint. */
  readonly line: number;

  constructor(entry: PinEntry, presented: string, path: string) {
    const bar = "@".repeat(68);
    super(
      "identity_changed",
      [
        bar,
        "@    WARNING: THE IDENTITY OF THIS PARLEY SERVER HAS CHANGED!      @",
        bar,
        `The server at ${entry.server} presented the identity`,
        `    ${presented}`,
        `but the identity pinned for it on line ${entry.line} of ${path} is`,
        `    ${entry.fingerprint}`,
        "Someone may be intercepting your connection (a man-in-the-middle attack), or the",
        "server's operator may have replaced its identity key. Parley refused to connect and",
        "sent nothing: no password, no message.",
        "",
        "To proceed: ask the server's operator, over a channel you trust (in person, by phone),",
        "for the fingerprint the server prints at start-up. Only if it is exactly",
        `    ${presented}`,
        `remove line ${entry.line} of ${path}:`,
        `    ${entry.server} ${entry.fingerprint}`,
        "and connect again; the new identity is then pinned.",
      ].join("\n"),
    );
    this.name = "IdentityChangedError";
    this.server = entry.server;
    this.pinned = entry.fingerprint;
    this.presented = presented;
    this.path = path;
    this.line = entry.line;
  }
}

const HEADER = "# Parley known servers: one 'host:port SHA256:fingerprint' per line, pinned on " +
  "first use.\n# Remove a line to forget a server (only after verifying its new fingerprint).\n";

/** The known-servers file. */
export class KnownServers {
  /** Path of the file. */
  readonly path: string;

  /** @param path the file; @default defaultKnownServersPath() */
  constructor(path: string = defaultKnownServersPath()) {
    this.path = path;
  }

  /** Every well-formed pin in the file, in order; malformed lines and comments are skipped. */
  async entries(): Promise<PinEntry[]> {
    let text: string;
    try {
      const info = await Deno.stat(this.path);
      if (Deno.build.os !== "windows" && info.mode !== null && (info.mode & 0o022) !== 0) {
        throw new CryptoError(
          "key_file_insecure",
          `${this.path} is writable by other users, who could change your pins. Fix it with: ` +
            `chmod 600 ${this.path}`,
        );
      }
      text = await Deno.readTextFile(this.path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return [];
      throw err;
    }
    const out: PinEntry[] = [];
    text.split("\n").forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const [server, fp, ...rest] = line.split(/\s+/);
      if (rest.length === 0 && fp !== undefined && isFingerprint(fp)) {
        out.push({ server: server.toLowerCase(), fingerprint: fp, line: i + 1 });
      }
    });
    return out;
  }

  /** The pins recorded for `server` (`host:port`, see {@linkcode serverName}). */
  async lookup(server: string): Promise<PinEntry[]> {
    const name = server.toLowerCase();
    return (await this.entries()).filter((e) => e.server === name);
  }

  /**
   * Checks a server's fingerprint: `known` when it matches a pin, `pinned` when the server had
   * none and the fingerprint was just recorded.
   * @throws {IdentityChangedError} (`identity_changed`) when the server has a different pin.
   */
  async check(server: string, fingerprint: string): Promise<"known" | "pinned"> {
    if (!isFingerprint(fingerprint)) {
      throw new CryptoError("invalid_argument", `Not a fingerprint: '${fingerprint}'`);
    }
    const pins = await this.lookup(server);
    if (pins.some((p) => fingerprintsEqual(p.fingerprint, fingerprint))) return "known";
    if (pins.length > 0) throw new IdentityChangedError(pins[0], fingerprint, this.path);
    await this.#append(`${server.toLowerCase()} ${fingerprint}\n`);
    return "pinned";
  }

  /**
   * The `verifyIdentity` callback for `clientHandshake`: accepts a known identity, pins a new
   * server's, and throws {@linkcode IdentityChangedError} for a changed one.
   * @param onPinned called after a first-use pin, e.g. to tell the user the fingerprint;
   * `created` when that pin created the file (worth saying where it is, once).
   */
  verifier(
    server: string,
    onPinned?: (fingerprint: string, info: { created: boolean }) => void,
  ): IdentityVerifier {
    return async (identity) => {
      const existed = await Deno.stat(this.path).then(
        () => true,
        (err) => !(err instanceof Deno.errors.NotFound),
      );
      if (await this.check(server, identity.fingerprint) === "pinned") {
        onPinned?.(identity.fingerprint, { created: !existed });
      }
      return true;
    };
  }

  async #append(line: string): Promise<void> {
    const slash = Math.max(this.path.lastIndexOf("/"), this.path.lastIndexOf("\\"));
    if (slash > 0) await Deno.mkdir(this.path.slice(0, slash), { recursive: true, mode: 0o700 });
    let prefix = "";
    try {
      const text = await Deno.readTextFile(this.path);
      if (text !== "" && !text.endsWith("\n")) prefix = "\n";
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      prefix = HEADER;
    }
    const file = await Deno.open(this.path, { append: true, create: true, mode: 0o600 });
    try {
      await file.write(new TextEncoder().encode(prefix + line));
      await file.sync();
    } finally {
      file.close();
    }
  }
}
