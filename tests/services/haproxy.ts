/**
 * A real HAProxy (Debian's `haproxy`) in front of several Parley nodes, on loopback, for the
 * multi-node tests: TCP mode for the TCP port (text and JSON mode), HTTP mode for the browser
 * port (WebSocket upgrades pass through as tunnels), health checks on each node's `/healthz`.
 * The configuration is the one docs/operations.md shows, with test timings. HAProxy connects to
 * the nodes from `PROXY_SOURCE` and sends the PROXY protocol header, so nodes started with
 * `--trusted-proxies 127.0.0.2` see each client's own address, while a test's direct
 * connections (from 127.0.0.1) stay ordinary ones.
 */

/** The address HAProxy connects to the nodes from: give it to them as `--trusted-proxies`. */
export const PROXY_SOURCE = "127.0.0.2";

/** One Parley node as HAProxy sees it. */
export interface HaproxyBackend {
  name: string;
  tcpPort: number;
  httpPort: number;
}

/** A running HAProxy: where clients connect, and how to stop it. */
export interface HaproxyService {
  tcpPort: number;
  httpPort: number;
  /** The configuration it runs, for failure messages. */
  config: string;
  /** Everything it printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/** The path of the haproxy binary, or undefined when it is not installed. */
export function haproxyBinary(): string | undefined {
  for (const path of ["/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not there */ }
  }
  return undefined;
}

/** A loopback port nobody listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * HAProxy's configuration for `backends`. A node whose `/healthz` fails twice (checked every
 * `checkMs`) is taken out, and its open sessions are cut (`on-marked-down shutdown-sessions`), so
 * clients reconnect to a node that serves; long timeouts because chat connections stay open.
 */
export function haproxyConfig(
  backends: HaproxyBackend[],
  ports: { tcp: number; http: number },
  checkMs = 1000,
): string {
  const servers = (check: (b: HaproxyBackend) => string) =>
    backends.map((b) => `  server ${b.name} ${check(b)}`).join("\n");
  return `global
  maxconn 4000

defaults
  # A node that refuses the connection (dead, not yet marked down): try another.
  retries 3
  option redispatch
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  timeout client-fin 5s
  default-server inter ${checkMs}ms fall 2 rise 2 on-marked-down shutdown-sessions send-proxy-v2 check-send-proxy

frontend parley_tcp
  mode tcp
  bind 127.0.0.1:${ports.tcp}
  default_backend parley_tcp_nodes

backend parley_tcp_nodes
  mode tcp
  balance leastconn
  source ${PROXY_SOURCE}
  option httpchk GET /healthz
  http-check expect status 200
${servers((b) => `127.0.0.1:${b.tcpPort} check port ${b.httpPort}`)}

frontend parley_http
  mode http
  bind 127.0.0.1:${ports.http}
  default_backend parley_http_nodes

backend parley_http_nodes
  mode http
  balance leastconn
  source ${PROXY_SOURCE}
  option httpchk GET /healthz
  http-check expect status 200
${servers((b) => `127.0.0.1:${b.httpPort} check`)}
`;
}

/**
 * Starts HAProxy in the foreground in front of `backends` and waits until both frontends accept.
 * Returns undefined when HAProxy is not installed (callers skip, or fail under CI).
 */
export async function startHaproxy(
  backends: HaproxyBackend[],
  options: { checkMs?: number } = {},
): Promise<HaproxyService | undefined> {
  const binary = haproxyBinary();
  if (!binary) return undefined;
  const dir = await Deno.makeTempDir({ prefix: "parley-haproxy-" });
  const ports = { tcp: freePort(), http: freePort() };
  const config = haproxyConfig(backends, ports, options.checkMs);
  const path = `${dir}/haproxy.cfg`;
  await Deno.writeTextFile(path, config);
  const child = new Deno.Command(binary, {
    args: ["-db", "-f", path],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const bytes of stream) out += decoder.decode(bytes, { stream: true });
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await status;
    await pumps;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const deadline = Date.now() + 10_000;
  for (const port of [ports.tcp, ports.http]) {
    while (true) {
      if (exited) {
        await stop();
        throw new Error(`haproxy exited before listening:\n${out}\n${config}`);
      }
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch {
        if (Date.now() > deadline) {
          await stop();
          throw new Error(`haproxy did not listen on ${port} in 10 s:\n${out}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  return { tcpPort: ports.tcp, httpPort: ports.http, config, output: () => out, stop };
}
