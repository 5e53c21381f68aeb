/**
 * A self-signed certificate made at test time by the openssl CLI (CI installs it), for the
 * tests that serve TLS.
 */
import assert from "node:assert/strict";

export interface Cert {
  dir: string;
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

/** A self-signed EC certificate for localhost and 127.0.0.1, in a fresh temp directory. */
export async function makeCert(): Promise<Cert> {
  const dir = await Deno.makeTempDir({ prefix: "parley-tls-" });
  const certPath = `${dir}/cert.pem`;
  const keyPath = `${dir}/key.pem`;
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      // A server certificate, not a CA: rustls (Deno) refuses a CA certificate as the server's.
      "-addext",
      "basicConstraints=critical,CA:FALSE",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  await Deno.chmod(keyPath, 0o600);
  return {
    dir,
    certPath,
    keyPath,
    cert: await Deno.readTextFile(certPath),
    key: await Deno.readTextFile(keyPath),
  };
}
