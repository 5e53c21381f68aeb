/**
 * server/ws_idle.ts: the WebSocket idle timeout armed after the upgrade, on a connection served
 * the way Parley's HTTP port serves it (its own accept loop, `Deno.serveHttp`). It must ping and
 * close a silent peer as the upgrade's option does, without keeping the upgrade's request.
 */
import { strict as assert } from "node:assert";
import v8 from "node:v8";
import vm from "node:vm";
import { armIdleTimeout, lateIdleTimeout, upgradeIdleTimeout } from "../server/ws_idle.ts";
import { closeInfo, OP_CLOSE, OP_PING, RawWebSocket } from "./raw_ws.ts";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/** What `Deno.serveHttp` gives; Deno 2 ships it without a type (server/http_listener.ts). */
interface HttpConn {
  nextRequest(): Promise<
    { request: Request; respondWith(r: Response): Promise<void> } | null
  >;
}
const serveHttp = (Deno as unknown as { serveHttp: (conn: Deno.Conn) => HttpConn }).serveHttp;

/**
 * Serves one WebSocket upgrade on a connection accepted here, with the idle timeout given to the
 * upgrade (`late` false) or armed once the socket is open. Resolves with a weak reference to the
 * upgrade's request once the socket is open and the runtime's steps after `open` are done.
 */
async function upgradeOne(seconds: number, late: boolean) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const opened = Promise.withResolvers<{ request: WeakRef<Request>; socket: WebSocket }>();
  const served = (async () => {
    const conn = await listener.accept();
    const event = await serveHttp(conn).nextRequest();
    if (!event) throw new Error("no request");
    const { socket, response } = Deno.upgradeWebSocket(event.request, {
      idleTimeout: late ? upgradeIdleTimeout(seconds) : seconds,
    });
    const request = new WeakRef(event.request);
    socket.onopen = () =>
      queueMicrotask(() => {
        if (late) armIdleTimeout(socket, seconds);
        setTimeout(() => opened.resolve({ request, socket }), 0);
      });
    await event.respondWith(response);
  })();
  const client = await RawWebSocket.connect(listener.addr.port, { path: "/" });
  await served;
  const { request, socket } = await opened.promise;
  listener.close();
  return { client, request, socket };
}

Deno.test("ws idle: the pinned Deno lets the idle timeout be armed after the upgrade", () => {
  assert.equal(lateIdleTimeout, true);
  assert.equal(upgradeIdleTimeout(60), 0);
});

Deno.test("ws idle: armed after the upgrade, it pings a silent peer, then closes it with 1001", async () => {
  const { client, socket } = await upgradeOne(2, true);
  const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  try {
    // The client never answers: a ping at half the timeout, then the close.
    const ping = await client.readFrame(10_000);
    assert.equal(ping?.opcode, OP_PING);
    const close = await client.readFrame(10_000);
    assert.equal(close?.opcode, OP_CLOSE);
    assert.equal(closeInfo(close!).code, 1001);
    assert.equal((await closed).code, 1001);
  } finally {
    client.conn.close();
  }
});

Deno.test("ws idle: armed after the upgrade, the upgrade's request is not kept", async () => {
  for (const late of [false, true]) {
    const { client, request, socket } = await upgradeOne(60, late);
    gc();
    // Given to the upgrade, the runtime's close listener keeps the request (and the HttpConn):
    // what ws_idle.ts avoids. If a runtime stops doing that, the workaround can go.
    assert.equal(
      request.deref() === undefined,
      late,
      late ? "armed late, the request must be freed" : "given to the upgrade, it is kept",
    );
    const closed = new Promise((resolve) => socket.onclose = resolve);
    await client.sendClose();
    await closed;
    client.conn.close();
  }
});
