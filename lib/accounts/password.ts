/**
 * Password hashing with PBKDF2-SHA256 through WebCrypto. The stored form names its parameters
 * (`pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`), so the cost can rise without breaking
 * existing accounts.
 */

/** OWASP's 2023 recommendation for PBKDF2-SHA256. */
export const DEFAULT_ITERATIONS = 600_000;

const SALT_BYTES = 16;
const HASH_BITS = 256;

let derivations = 0;

/**
 * How many password hashes (PBKDF2 derivations) this process has computed: what a sign-in
 * costs, and what a resume must not (tests and the reconnect-storm bench count it).
 */
export function passwordHashCount(): number {
  return derivations;
}

/** Hashes `password` with a fresh random salt. */
export async function hashPassword(
  password: string,
  iterations: number = DEFAULT_ITERATIONS,
): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, iterations);
  return `pbkdf2-sha256$${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

/** Checks `password` against a stored hash in constant time; false for malformed hashes. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const iterations = hashIterations(stored);
  if (iterations === undefined) return false;
  const parts = stored.split("$");
  const expected = fromBase64(parts[3]);
  const actual = await derive(password, fromBase64(parts[2]), iterations);
  return constantTimeEqual(actual, expected);
}

/**
 * The PBKDF2 iteration count a stored hash was made with; undefined when the hash is malformed.
 * A sign-in compares it with the server's setting to rehash a weaker one.
 */
export function hashIterations(stored: string): number | undefined {
  const parts = stored.split("$");
  if (parts.length !== 4 || parts[0] !== "pbkdf2-sha256") return undefined;
  const iterations = Number(parts[1]);
  return Number.isSafeInteger(iterations) && iterations >= 1 ? iterations : undefined;
}

/** Compares two byte arrays without an early exit that would leak where they differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  // Lengths are public (a hash is always 32 bytes); only the contents must not leak.
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

async function derive(password: string, salt: Uint8Array, iterations: number) {
  derivations++;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password.normalize("NFC")),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as BufferSource, iterations },
    key,
    HASH_BITS,
  );
  return new Uint8Array(bits);
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array();
  }
}
