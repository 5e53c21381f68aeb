/**
 * Loading the certificate and key of `--tls-cert`/`--tls-key` (docs/security.md §10), with
 * start-up errors that name the file and say what is wrong.
 */

/** A certificate chain and its private key, PEM text, as Deno.listenTls takes them. */
export interface TlsFiles {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

export class TlsSetupError extends Error {
  override name = "TlsSetupError";
}

/**
 * Reads both files and checks they look like PEM (a certificate, a private key).
 * @throws {TlsSetupError} when a file cannot be read or holds the wrong thing.
 */
export async function loadTlsFiles(certPath: string, keyPath: string): Promise<TlsFiles> {
  const read = async (path: string, what: string, flag: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      throw new TlsSetupError(
        `cannot read the TLS ${what} '${path}' (${flag}): ${(err as Error).message}`,
      );
    }
  };
  const cert = await read(certPath, "certificate", "--tls-cert");
  const key = await read(keyPath, "private key", "--tls-key");
  if (!/-----BEGIN CERTIFICATE-----/.test(cert)) {
    throw new TlsSetupError(
      `the TLS certificate '${certPath}' (--tls-cert) holds no PEM certificate ` +
        `("-----BEGIN CERTIFICATE-----"); see docs/security.md §10 to make one`,
    );
  }
  if (!/-----BEGIN (EC |RSA |ENCRYPTED )?PRIVATE KEY-----/.test(key)) {
    throw new TlsSetupError(
      `the TLS private key '${keyPath}' (--tls-key) holds no PEM private key ` +
        `("-----BEGIN PRIVATE KEY-----"); see docs/security.md §10 to make one`,
    );
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(key)) {
    throw new TlsSetupError(
      `the TLS private key '${keyPath}' (--tls-key) is encrypted with a passphrase; ` +
        `Parley needs it unencrypted (openssl pkey -in <file> -out <new file>), mode 0600`,
    );
  }
  return { cert, key, certPath, keyPath };
}

/**
 * The start-up message for an error from Deno.listenTls: a TLS problem names both
 * files, anything else (a port in use) is left to the caller. Undefined when not about TLS.
 */
export function describeTlsError(err: unknown, tls: TlsFiles | undefined): string | undefined {
  if (!tls) return undefined;
  if (
    err instanceof Deno.errors.AddrInUse || err instanceof Deno.errors.AddrNotAvailable ||
    err instanceof Deno.errors.PermissionDenied
  ) return undefined;
  const message = err instanceof Error ? err.message : String(err);
  return `the TLS certificate '${tls.certPath}' and key '${tls.keyPath}' were refused: ` +
    `${message} (is the key the certificate's own? see docs/security.md §10)`;
}
