/**
 * Self-signed certificates made at test time by the openssl CLI (CI installs it), for the tests
 * that serve TLS: a good one, and the kinds a client must refuse with a clear explanation.
 */
import assert from "node:assert/strict";

export interface Cert {
  dir: string;
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

/**
 * What to make: `server` is the certificate docs/security.md §10 tells operators to make;
 * `ca` what plain `openssl req -x509` makes (marked as a CA); `expired` one whose validity
 * ended yesterday; `other_name` one for example.com only.
 */
export type CertKind = "server" | "ca" | "expired" | "other_name";

const SERVER_EXTENSIONS = [
  "subjectAltName=IP:127.0.0.1,DNS:localhost",
  // A server certificate, not a CA: rustls (Deno) refuses a CA certificate as the server's.
  "basicConstraints=critical,CA:FALSE",
];

/** A self-signed EC certificate (for localhost and 127.0.0.1 unless `other_name`), in a fresh temp directory. */
export async function makeCert(kind: CertKind = "server"): Promise<Cert> {
  const dir = await Deno.makeTempDir({ prefix: "parley-tls-" });
  const certPath = `${dir}/cert.pem`;
  const keyPath = `${dir}/key.pem`;
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  if (kind === "expired") {
    // `req -x509` cannot back-date; a request signed by its own key with -days -1 can.
    const csrPath = `${dir}/cert.csr`;
    const extPath = `${dir}/ext.cnf`;
    await Deno.writeTextFile(extPath, SERVER_EXTENSIONS.join("\n") + "\n");
    await openssl([
      "req",
      "-new",
      ...newKey,
      "-keyout",
      keyPath,
      "-out",
      csrPath,
      "-subj",
      "/CN=localhost",
    ]);
    await openssl([
      "x509",
      "-req",
      "-in",
      csrPath,
      "-signkey",
      keyPath,
      "-days",
      "-1",
      "-extfile",
      extPath,
      "-out",
      certPath,
    ]);
  } else {
    const extensions = kind === "ca"
      ? ["subjectAltName=IP:127.0.0.1,DNS:localhost"]
      : kind === "other_name"
      ? ["subjectAltName=DNS:example.com", "basicConstraints=critical,CA:FALSE"]
      : SERVER_EXTENSIONS;
    await openssl([
      "req",
      "-x509",
      ...newKey,
      "-days",
      "2",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-subj",
      kind === "other_name" ? "/CN=example.com" : "/CN=localhost",
      ...extensions.flatMap((e) => ["-addext", e]),
    ]);
  }
  await Deno.chmod(keyPath, 0o600);
  return {
    dir,
    certPath,
    keyPath,
    cert: await Deno.readTextFile(certPath),
    key: await Deno.readTextFile(keyPath),
  };
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}
