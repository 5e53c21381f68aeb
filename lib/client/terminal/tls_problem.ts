/**
 * What a refused server certificate means, in words a user can act on. Deno's TLS (rustls)
 * reports it as `invalid peer certificate: <variant>`, which says nothing to most people.
 */

/** Where the certificate commands are documented. */
const CERT_DOC = "docs/security.md §10, Making a certificate";

/**
 * Explains a TLS certificate error for the user, naming what to do; undefined when `message` is
 * not about the server's certificate.
 * @param message the error's message (e.g. `invalid peer certificate: UnknownIssuer`)
 */
export function explainCertificateError(message: string): string | undefined {
  if (!/invalid peer certificate/i.test(message)) return undefined;
  if (/CaUsedAsEndEntity/.test(message)) {
    return "The server's TLS certificate is marked as a certificate authority (CA), which TLS " +
      "clients refuse as a server's own certificate: plain `openssl req -x509` makes such " +
      "certificates. The server's operator should make one with " +
      `\`-addext "basicConstraints=critical,CA:FALSE"\` (the command is in ${CERT_DOC}).`;
  }
  if (/Expired|NotValidYet/.test(message)) {
    const when = /NotValidYet/.test(message) ? "is not valid yet" : "has expired";
    return `The server's TLS certificate ${when} (or this computer's clock is wrong). The ` +
      `server's operator should renew it (the command is in ${CERT_DOC}).`;
  }
  if (/not valid for name|NotValidForName/i.test(message)) {
    // rustls names the host asked for: `certificate not valid for name "127.0.0.1"; ...`.
    const host = /not valid for name "([^"]*)"/.exec(message)?.[1];
    const name = host === undefined
      ? "the name you connected to"
      : `'${host}', the name you connected to`;
    return `The server's TLS certificate is not made out for ${name}. Connect with a name ` +
      "the certificate lists (--host), or the server's operator makes one that lists this name " +
      `in its subjectAltName (the command is in ${CERT_DOC}).`;
  }
  if (/UnknownIssuer/.test(message)) {
    return "The server's TLS certificate is not signed by an authority this computer trusts. " +
      "For a self-signed certificate, get the certificate file from the server's operator and " +
      `pass it with --ca-cert <file> (see ${CERT_DOC}).`;
  }
  const detail = message.replace(/^.*invalid peer certificate:\s*/i, "");
  return `The server's TLS certificate was refused (${detail}); see ${CERT_DOC}.`;
}
