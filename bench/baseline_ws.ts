/**
 * Baseline WebSocket broadcast server: Deno.serve + upgradeWebSocket; every text frame received
 * is sent to every socket with socket.send. No sign-in, no encryption, no storage: the floor
 * Parley's WebSocket transport is compared with. It drops a slow reader by Parley's rules
 * (server/ws.ts): a send that finds more than 1 MiB still in the socket's buffer is not made and
 * the socket is closed (1008, "too slow"), as is one whose buffer does not drain for 5 s.
 *
 *   deno run --allow-net bench/baseline_ws.ts [--port N]
 */
import { announce, Hub, type Member, READER_LIMITS, stallWatch } from "./baseline_hub.ts";

export function serveBaselineWs(hub: Hub, port = 0): Promise<number> {
  const listening = Promise.withResolvers<number>();
  Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: (addr) => listening.resolve(addr.port),
  }, (req) => {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("baseline: WebSocket only\n", { status: 426 });
    }
    const { socket, response } = Deno.upgradeWebSocket(req);
    const gone = () => {
      hub.members.delete(member);
      stallWatch.delete(reader);
    };
    const reader = new Reader(socket, gone);
    // The hub's bytes carry a newline the frame does not.
    const member: Member = { deliver: (line, bytes) => reader.send(line, bytes().length - 1) };
    socket.onopen = () => hub.members.add(member);
    socket.onmessage = (e) => {
      if (typeof e.data === "string") hub.receive(member, e.data);
    };
    socket.onclose = gone;
    socket.onerror = gone;
    return response;
  });
  return listening.promise;
}

/** One socket's write side: backpressure from `bufferedAmount`, as Parley's WsConnection. */
export class Reader {
  #socket: WebSocket;
  /** Bytes handed to the socket so far, and how many had left it at the last check. */
  #sent = 0;
  #drained = 0;
  #since = 0;
  #watching = false;
  #gone: () => void;

  constructor(socket: WebSocket, gone: () => void) {
    this.#socket = socket;
    this.#gone = gone;
  }

  /** Sends `line` of `size` UTF-8 bytes, or drops a reader with more than the cap waiting. */
  send(line: string, size: number): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    if (this.#socket.bufferedAmount > READER_LIMITS.maxQueuedBytes) return this.#tooSlow();
    this.#socket.send(line);
    this.#sent += size;
    if (this.#watching) return;
    this.#watching = true;
    this.#since = performance.now();
    this.#drained = this.#sent - this.#socket.bufferedAmount;
    stallWatch.add(this);
  }

  /** For the stall watch: bytes waiting that do not drain at all for too long. */
  check(now: number): void {
    const buffered = this.#socket.bufferedAmount;
    if (this.#socket.readyState !== WebSocket.OPEN || buffered === 0) {
      this.#watching = false;
      return stallWatch.delete(this);
    }
    const drained = this.#sent - buffered;
    if (drained > this.#drained) {
      this.#drained = drained;
      this.#since = now;
    } else if (now - this.#since > READER_LIMITS.slowMs) this.#tooSlow();
  }

  #tooSlow(): void {
    this.#watching = false;
    // The closing handshake cannot finish while the peer does not read: it is gone now.
    this.#gone();
    try {
      this.#socket.close(1008, "too slow");
    } catch { /* already closed */ }
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--port");
  announce("ws", await serveBaselineWs(new Hub(), i === -1 ? 0 : Number(Deno.args[i + 1])));
}
