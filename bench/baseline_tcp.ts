/**
 * Baseline TCP broadcast server: newline-delimited lines; every line received goes to every
 * connection, writes coalesced per connection per event-loop turn. No sign-in, no encryption,
 * no storage: the floor Parley's TCP transport is compared with. It drops a slow reader by
 * Parley's rules (server/tcp_connection.ts): more than 1 MiB waiting behind a write in flight,
 * or a write that makes no progress for 5 s. Its read buffers follow the traffic as Parley's do
 * (server/tcp_read.ts): a 64 KiB buffer pinned by every quiet connection's pending read held
 * ~60 KiB per idle connection, twice what Parley holds, and made a floor of a ceiling.
 *
 *   deno run --allow-net bench/baseline_tcp.ts [--port N]
 */
import { announce, Hub, type Member, READER_LIMITS, stallWatch } from "./baseline_hub.ts";
import { concatBytes } from "../lib/bytes.ts";
import { MIN_READ_BYTES, nextReadBuffer } from "../server/tcp_read.ts";

export function serveBaselineTcp(hub: Hub, port = 0): Deno.Listener {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  (async () => {
    for await (const conn of listener) handle(hub, conn);
  })().catch(() => {});
  return listener;
}

function handle(hub: Hub, conn: Deno.TcpConn): void {
  // The same socket option as Parley's TCP transport (server/tcp.ts).
  conn.setNoDelay(true);
  let queue: Uint8Array[] = [];
  let queued = 0;
  let scheduled = false;
  let writing = false;
  let closed = false;
  /** When the write in flight started; undefined when none is. */
  let writeSince: number | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    hub.members.delete(member);
    stallWatch.delete(watched);
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const watched = {
    check(now: number) {
      if (writeSince !== undefined && now - writeSince > READER_LIMITS.slowMs) close();
    },
  };
  const flush = async () => {
    scheduled = false;
    if (writing) return;
    writing = true;
    stallWatch.add(watched);
    try {
      while (queue.length && !closed) {
        const chunks = queue;
        queue = [];
        queued = 0;
        const bytes = chunks.length === 1 ? chunks[0] : concatBytes(chunks);
        let off = 0;
        while (off < bytes.length) {
          writeSince = performance.now();
          off += await conn.write(bytes.subarray(off));
        }
      }
    } catch {
      close();
    } finally {
      writing = false;
      writeSince = undefined;
      stallWatch.delete(watched);
    }
  };
  const member: Member = {
    deliver(_line, bytes) {
      if (closed) return;
      // Parley's cap: a backlog behind a write the reader is not taking.
      if (writing && queued > READER_LIMITS.maxQueuedBytes) return close();
      const b = bytes();
      queue.push(b);
      queued += b.length;
      if (!scheduled && !writing) {
        scheduled = true;
        queueMicrotask(flush);
      }
    },
  };
  hub.members.add(member);
  (async () => {
    const decoder = new TextDecoder();
    let buf: Uint8Array = new Uint8Array(MIN_READ_BYTES);
    let rest = "";
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      const read = buf;
      buf = nextReadBuffer(buf, n);
      rest += decoder.decode(read.subarray(0, n), { stream: true });
      let start = 0;
      let nl;
      while ((nl = rest.indexOf("\n", start)) !== -1) {
        hub.receive(member, rest.slice(start, nl));
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
