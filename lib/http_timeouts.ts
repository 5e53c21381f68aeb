/**
 * The HTTP port's deadlines when none are given, in milliseconds: `headerMs` for a new
 * connection's first request headers, `idleMs` for a kept-alive connection's next request.
 * The defaults of `--http-header-timeout` and `--http-idle-timeout` (lib/config.ts) and of
 * `serveHttp` (server/http.ts) alike.
 */
export const HTTP_TIMEOUTS = { headerMs: 10_000, idleMs: 30_000 } as const;
