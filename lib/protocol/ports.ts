/**
 * Where a Parley server listens unless told otherwise, and where the terminal client looks for
 * it: the server's `--tcp-port` and `--http-port` defaults and the client's `--port` default.
 */
export const DEFAULT_TCP_PORT = 7000;
/** The browser client's HTTP port when `--http-port` is not given. */
export const DEFAULT_HTTP_PORT = 8000;
