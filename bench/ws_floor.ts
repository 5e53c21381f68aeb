/**
 * What an idle WebSocket costs a server, by implementation, before any feature: RSS per
 * connection after a GC and a malloc_trim, with `--clients` idle clients that each were sent one
 * message of `--message-bytes` (Parley sends a welcome first; at 2,000 online it is ~60 KB).
 *
 *   deno run -A bench/ws_floor.ts [--clients 2000] [--message-bytes 0] [--kind serve,servehttp]
 *     [--idle-timeout 30] [--late-idle]
 *
 * Implementations (`--kind a,b` picks some): `serve` (Deno.serve + Deno.upgradeWebSocket, the
 * bench's baseline), `servehttp` (Deno.serveHttp on our own accept loop + Deno.upgradeWebSocket,
 * as Parley's HTTP port), `serveon` (Deno.serve's machinery on one accepted connection, the
 * runtime's internal `serveHttpOnConnection`, + Deno.upgradeWebSocket) and `node-ws` (npm `ws`
 * on `node:http`). Each server runs in its own process with `--expose-gc`; the clients are Deno
 * WebSockets in this one.
 */
import { parseArgs } from "node:util";
import { armIdleTimeout, upgradeIdleTimeout } from "../server/ws_idle.ts";

const { values: f } = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "2000" },
    "message-bytes": { type: "string", default: "0" },
    role: { type: "string" },
    kind: { type: "string" },
    "idle-timeout": { type: "string", default: "30" },
    /** Arm the idle timeout after the upgrade, as Parley does (server/ws_idle.ts). */
    "late-idle": { type: "boolean", default: false },
  },
});
const clients = Number(f.clients);
const messageBytes = Number(f["message-bytes"]);
/** Deno.upgradeWebSocket's `idleTimeout` (s; 0: no pings): Parley passes 60. */
const idleTimeout = Number(f["idle-timeout"]);
const lateIdle = f["late-idle"];
const KINDS = f.kind?.split(",") ?? ["serve", "servehttp", "serveon", "node-ws"];

/** What is used of an npm `ws` socket. */
interface NodeWs {
  send(data: string): void;
  on(event: "close", listener: () => void): void;
}

/** Deno.serve's machinery on one connection the program accepted (server/http_listener.ts). */
interface ServeOnInternal {
  serveHttpOnConnection(
    conn: Deno.Conn,
    signal: AbortSignal | undefined,
    handler: (req: Request) => Response | Promise<Response>,
    onError: (err: unknown) => Response,
    onListen: (scheme: string) => void,
  ): { finished: Promise<void>; shutdown(): Promise<void> };
}

if (f.role === "server") await server(f.kind!);
else await main();

async function main() {
  console.log(
    `${clients} idle WebSockets, each sent one message of ${messageBytes} bytes ` +
      `(Deno's idleTimeout ${idleTimeout} s${lateIdle ? ", armed after the upgrade" : ""}):`,
  );
  for (const kind of KINDS) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        import.meta.filename!,
        "--role=server",
        `--kind=${kind}`,
        `--clients=${clients}`,
        `--message-bytes=${messageBytes}`,
        `--idle-timeout=${idleTimeout}`,
        ...lateIdle ? ["--late-idle"] : [],
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    let port = 0;
    while (!port) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`${kind} ended: ${out}`);
      out += value;
      port = Number(out.match(/^PORT (\d+)/m)?.[1] ?? 0);
    }
    const sockets: WebSocket[] = [];
    for (let i = 0; i < clients; i += 50) {
      await Promise.all(
        Array.from(
          { length: Math.min(50, clients - i) },
          () =>
            new Promise<void>((resolve, reject) => {
              const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
              ws.onopen = () => resolve();
              ws.onerror = () => reject(new Error(`${kind}: cannot connect`));
              sockets.push(ws);
            }),
        ),
      );
    }
    while (!/^RESULT/m.test(out)) {
      const { value, done } = await lines.read();
      if (done) break;
      out += value;
    }
    console.log(`  ${kind.padEnd(10)} ${out.match(/^RESULT (.*)$/m)?.[1] ?? "no result"}`);
    for (const ws of sockets) ws.close();
    await child.status;
  }
}

async function server(kind: string) {
  let open = 0;
  let opened = 0;
  const greet = (send: (s: string) => void) => {
    open++;
    opened++;
    if (messageBytes) send("x".repeat(messageBytes));
  };
  let port = 0;
  if (kind === "node-ws") {
    const http = await import("node:http");
    // Only this measuring tool uses it: not a dependency of the project.
    // deno-lint-ignore no-import-prefix
    const { WebSocketServer } = await import("npm:ws@8");
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    const srv = http.createServer((_req, res) => {
      res.writeHead(426);
      res.end();
    });
    srv.on("upgrade", (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws: NodeWs) => {
        greet((s) => ws.send(s));
        ws.on("close", () => open--);
      });
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    port = (srv.address() as { port: number }).port;
  } else {
    const upgrade = (req: Request) => {
      const { socket, response } = Deno.upgradeWebSocket(req, {
        idleTimeout: lateIdle ? upgradeIdleTimeout(idleTimeout) : idleTimeout,
      });
      socket.onopen = () => {
        if (lateIdle) queueMicrotask(() => armIdleTimeout(socket, idleTimeout));
        greet((s) => socket.send(s));
      };
      socket.onclose = () => open--;
      return response;
    };
    if (kind === "serve") {
      const listening = Promise.withResolvers<number>();
      Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: (a) => listening.resolve(a.port) },
        upgrade,
      );
      port = await listening.promise;
    } else if (kind === "serveon") {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      port = l.addr.port;
      const internal = (Deno as unknown as Record<symbol, ServeOnInternal>)[
        (Deno as unknown as { internal: symbol }).internal
      ];
      (async () => {
        for await (const conn of l) {
          internal.serveHttpOnConnection(
            conn,
            undefined,
            upgrade,
            () => new Response(null, { status: 500 }),
            () => {},
          );
        }
      })();
    } else {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      port = l.addr.port;
      (async () => {
        for await (const conn of l) {
          (async () => {
            // @ts-ignore: the API Parley's HTTP port uses (server/http_listener.ts)
            // deno-lint-ignore no-deprecated-deno-api
            const http = Deno.serveHttp(conn);
            const event = await http.nextRequest();
            if (event) await event.respondWith(upgrade(event.request));
          })().catch(() => {});
        }
      })();
    }
  }
  const gc = (globalThis as unknown as { gc: () => void }).gc;
  const libc = Deno.dlopen("/usr/lib/x86_64-linux-gnu/libc.so.6", {
    malloc_trim: { parameters: ["usize"], result: "i32" },
  });
  const settle = async () => {
    gc();
    gc();
    libc.symbols.malloc_trim(0n);
    await new Promise((r) => setTimeout(r, 1000));
    return Deno.memoryUsage().rss / 1024;
  };
  const before = await settle();
  console.log(`PORT ${port}`);
  while (opened < clients) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 3000));
  const after = await settle();
  if (open < opened) {
    // serveon: the one-connection server closes its upgraded WebSocket (1001) as its HTTP part ends.
    console.log(
      `RESULT ${opened - open} of ${opened} WebSockets closed by the server after opening`,
    );
  } else {
    console.log(`RESULT ${((after - before) / open).toFixed(1)} KiB per connection (${open} open)`);
  }
  Deno.exit(0);
}
