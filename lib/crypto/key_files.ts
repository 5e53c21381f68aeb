/**
 * Secret key files in the data directory: the server's Ed25519 identity and the at-rest data
 * key. Created on first start with mode 0600, loaded on later starts, refused with a clear error
 * when corrupt or readable by others. The only file of the server side of `lib/crypto/` that uses
 * Deno APIs; the browser bundle never imports it.
 */
import { fromBase64, toBase64 } from "./_encoding.ts";
import { DataKey, generateDataKeyBytes } from "./data_key.ts";
import { CryptoError, isCryptoError } from "./errors.ts";
import {
  decodeIdentityPem,
  encodeIdentityPem,
  generateIdentitySeed,
  identityFromSeed,
  type ServerIdentity,
} from "./identity.ts";

/** Name of the identity key file in the data directory (PKCS#8 PEM). */
export const IDENTITY_FILE = "identity_ed25519.pem";
/** Name of the data key file in the data directory (base64, one line). */
export const DATA_KEY_FILE = "data.key";
/** The environment variable that may hold the data key (base64 of 32 bytes). */
export const DATA_KEY_ENV = "PARLEY_DATA_KEY";

/** A secret file's content, or undefined when it does not exist. */
async function readSecretFile(path: string): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  if (!info.isFile) {
    throw new CryptoError("key_file_corrupt", `${path} is not a regular file.`);
  }
  if (Deno.build.os !== "windows" && info.mode !== null && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
    throw new CryptoError(
      "key_file_insecure",
      `${path} has mode ${mode}, but it holds a secret key and must be readable by its owner ` +
        `only. Fix it with: chmod 600 ${path}`,
    );
  }
  return await Deno.readTextFile(path);
}

/**
 * Writes a new secret file with mode 0600, never replacing an existing one: the content goes to a
 * temporary file that is synced and then hard-linked into place. Returns false when the file
 * appeared meanwhile (another process won the race).
 */
async function createSecretFile(dir: string, path: string, content: string): Promise<boolean> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    const bytes = new TextEncoder().encode(content);
    for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
    await file.sync();
  } finally {
    file.close();
  }
  try {
    await Deno.chmod(tmp, 0o600);
    try {
      await Deno.link(tmp, path);
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) return false;
      // A file system without hard links: rename, after checking once more that no file is there.
      if (await exists(path)) return false;
      await Deno.rename(tmp, path);
    }
    return true;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + name : `${dir}/${name}`;
}

/** The identity, where it lives, and whether this start created it. */
export interface LoadedIdentity {
  identity: ServerIdentity;
  path: string;
  /** True when the file did not exist and a new identity was made. */
  created: boolean;
}

/** The directory part of a file path ("." for a bare name). */
function dirOf(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/**
 * Loads the server identity from `<dataDir>/identity_ed25519.pem`, or from `file` when given
 * (`--identity-file`: the same file on every node of a cluster), creating it (mode 0600) on
 * first start. Print `identity.fingerprint` at start-up.
 * @throws {CryptoError} `key_file_corrupt` or `key_file_insecure`, with what to do.
 */
export async function loadOrCreateIdentity(
  dataDir: string,
  file?: string,
): Promise<LoadedIdentity> {
  const path = file ?? join(dataDir, IDENTITY_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    const text = await readSecretFile(path);
    if (text !== undefined) {
      let seed: Uint8Array;
      try {
        seed = decodeIdentityPem(text);
      } catch (err) {
        if (!isCryptoError(err)) throw err;
        throw new CryptoError(
          "key_file_corrupt",
          `${path} is not a valid Parley identity key: ${err.message}. Restore it from a ` +
            "backup. Only if it is lost for good, delete it: Parley then makes a new identity, " +
            "and every client that pinned the old one refuses to connect until its user " +
            "verifies the new fingerprint and removes the old pin.",
          { cause: err },
        );
      }
      return { identity: await identityFromSeed(seed), path, created: false };
    }
    const seed = generateIdentitySeed();
    if (await createSecretFile(dirOf(path), path, encodeIdentityPem(seed))) {
      return { identity: await identityFromSeed(seed), path, created: true };
    }
  }
  throw new CryptoError("key_file_corrupt", `${path} could not be created or read.`);
}

/** Options of {@linkcode loadOrCreateDataKey}. */
export interface DataKeyFileOptions {
  /**
   * The value of `PARLEY_DATA_KEY`, if set (the caller reads the environment). When given, it is
   * the key and no file is read or written.
   */
  envValue?: string;
  /**
   * The key file (`--data-key-file`: the same key on every node of a cluster).
   * @default `<dataDir>/data.key`
   */
  file?: string;
  /**
   * Whether a missing key may be created. Pass false when the store already holds a key check
   * (it has sealed records): a missing key is then an error, not a fresh start.
   * @default true
   */
  create?: boolean;
}

/** The data key, and where it came from. */
export interface LoadedDataKey {
  key: DataKey;
  source: "env" | "file";
  /** The key file's path (also set when the key came from the environment, for messages). */
  path: string;
  /** True when the file did not exist and a new key was made. */
  created: boolean;
}

/**
 * Loads the at-rest data key: from `envValue` (base64) when given, else from `options.file` or
 * `<dataDir>/data.key`, creating it (mode 0600) on first start unless `create` is false.
 * Afterwards verify it against the store's key check: see docs/security.md §9.
 * @throws {CryptoError} `bad_key`, `key_file_corrupt`, `key_file_insecure`, or
 * `wrong_data_key` when the key is missing but the store needs it.
 */
export async function loadOrCreateDataKey(
  dataDir: string,
  options: DataKeyFileOptions = {},
): Promise<LoadedDataKey> {
  const path = options.file ?? join(dataDir, DATA_KEY_FILE);
  if (options.envValue !== undefined && options.envValue.trim() !== "") {
    const key = await DataKey.fromBase64(options.envValue, { source: DATA_KEY_ENV });
    return { key, source: "env", path, created: false };
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    const text = await readSecretFile(path);
    if (text !== undefined) {
      const bytes = fromBase64(text.trim());
      if (!bytes || bytes.length !== 32) {
        throw new CryptoError(
          "key_file_corrupt",
          `${path} does not hold a data key (base64 of 32 bytes). Restore it from a backup: ` +
            "without the original key the stored messages cannot be read.",
        );
      }
      return {
        key: await DataKey.fromBytes(bytes, { source: path }),
        source: "file",
        path,
        created: false,
      };
    }
    if (options.create === false) {
      throw new CryptoError(
        "wrong_data_key",
        `The store holds sealed messages, but there is no data key: ${DATA_KEY_ENV} is not set ` +
          `and ${path} does not exist. Restore ${path} from a backup, or set ${DATA_KEY_ENV} ` +
          "to the original key.",
      );
    }
    const bytes = generateDataKeyBytes();
    if (await createSecretFile(dirOf(path), path, toBase64(bytes) + "\n")) {
      return {
        key: await DataKey.fromBytes(bytes, { source: path }),
        source: "file",
        path,
        created: true,
      };
    }
  }
  throw new CryptoError("key_file_corrupt", `${path} could not be created or read.`);
}
