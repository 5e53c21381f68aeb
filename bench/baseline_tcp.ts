/**
 * Baseline TCP broadcast server: newline-delimited lines; every line received goes to every
 * connection, writes coalesced per connection per event-loop turn. No sign-in, no encryption,
 * no storage: the floor Parley's TCP transport is compared with.
 *
 *   deno run --allow-net bench/baseline_tcp.ts [--port N]
 */
import { announce, Hub, type Member } from "./baseline_hub.ts";
import { concatBytes } from "../lib/bytes.ts";

/** A connection further behind than this is dropped, like Parley's 4 MiB. */
const MAX_QUEUED = 4 << 20;

export function serveBaselineTcp(hub: Hub, port = 0): Deno.Listener {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  (async () => {
    for await (const conn of listener) handle(hub, conn);
  })().catch(() => {});
  return listener;
}

function handle(hub: Hub, conn: Deno.TcpConn): void {
  conn.setNoDelay(true);
  let queue: Uint8Array[] = [];
  let queued = 0;
  let scheduled = false;
  let writing = false;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    hub.members.delete(member);
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const flush = async () => {
    scheduled = false;
    if (writing) return;
    writing = true;
    try {
      while (queue.length && !closed) {
        const chunks = queue;
        queue = [];
        queued = 0;
        const bytes = chunks.length === 1
          ? chunks[0]
          : concatBytes(chunks, chunks.reduce((n, c) => n + c.length, 0));
        let off = 0;
        while (off < bytes.length) off += await conn.write(bytes.subarray(off));
      }
    } catch {
      close();
    } finally {
      writing = false;
    }
  };
  const member: Member = {
    deliver(_line, bytes) {
      const b = bytes();
      queue.push(b);
      queued += b.length;
      if (queued > MAX_QUEUED) return close();
      if (!scheduled && !writing) {
        scheduled = true;
        queueMicrotask(flush);
      }
    },
  };
  hub.members.add(member);
  (async () => {
    const decoder = new TextDecoder();
    const buf = new Uint8Array(64 * 1024);
    let rest = "";
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      rest += decoder.decode(buf.subarray(0, n), { stream: true });
      let start = 0;
      let nl;
      while ((nl = rest.indexOf("\n", start)) !== -1) {
        hub.broadcast(rest.slice(start, nl));
        start = nl + 1;
      }
      rest = rest.slice(start);
    }
  })().catch(() => {}).finally(close);
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--port");
  const listener = serveBaselineTcp(new Hub(), i === -1 ? 0 : Number(Deno.args[i + 1]));
  announce("tcp", (listener.addr as Deno.NetAddr).port);
}
