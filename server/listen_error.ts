/**
 * What to tell an operator when a listener cannot start: which flag (or environment variable)
 * moves it, and the usual reason a port is taken (another Parley is already running).
 */

/** The listener that failed, as the operator configured it. */
export interface ListenTarget {
  hostname: string;
  port: number;
  /** The flag that sets the port (`--tcp-port`). */
  flag: string;
  /** Its environment variable (`PARLEY_TCP_PORT`). */
  env: string;
}

/**
 * One line explaining why `target` could not be listened on, for the errors Deno raises at
 * `listen` (a port in use, a port that needs privileges, an address the machine does not have);
 * undefined for any other error, which the caller logs as it is.
 */
export function describeListenError(err: unknown, target: ListenTarget): string | undefined {
  const where = `${target.hostname}:${target.port}`;
  const move = `choose another port with ${target.flag} or ${target.env}`;
  if (err instanceof Deno.errors.AddrInUse) {
    return `cannot listen on ${where}: the port is already in use, perhaps by another Parley ` +
      `(is one already running? \`ss -ltnp 'sport = :${target.port}'\` shows who holds it); ` +
      move;
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return `cannot listen on ${where}: permission denied (ports below 1024 need privileges); ` +
      move;
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return `cannot listen on ${where}: this machine has no address ${target.hostname}; ` +
      "choose another with --host or PARLEY_HOST";
  }
  return undefined;
}
