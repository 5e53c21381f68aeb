/**
 * The TCP write side's slow-reader check asks the kernel before it drops anyone: a write the
 * server has not seen finish while the socket holds nothing for the reader is the server being
 * behind, not the reader (server/socket_backlog.ts). Real loopback sockets, real /proc/net/tcp.
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/log.ts";
import type { Router } from "../lib/router/mod.ts";
import type { Ticket } from "../lib/router/admission.ts";
import type { ServerIdentity } from "../lib/crypto/mod.ts";
import { parseBacklogs, readBacklogs } from "../server/socket_backlog.ts";
import { TcpConnection, type TcpShared } from "../server/tcp_connection.ts";
import { sleep, until } from "./helpers.ts";

const SLOW_MS = 300;

/** A loopback connection: the server's end and the client's, which reads only when told. */
async function pair(): Promise<{ server: Deno.TcpConn; client: Deno.TcpConn; close(): void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await listener.accept();
  listener.close();
  return {
    server,
    client,
    close() {
      for (const c of [server, client]) {
        try {
          c.close();
        } catch { /* closed already */ }
      }
    },
  };
}

/**
 * The server's end as a TcpConnection sees it, except that its writes wait for `release`: a
 * runtime that has not noticed the socket can take more, while the kernel holds nothing.
 */
class HeldConn {
  #real: Deno.TcpConn;
  #gate = Promise.withResolvers<void>();
  constructor(real: Deno.TcpConn) {
    this.#real = real;
  }
  get localAddr() {
    return this.#real.localAddr;
  }
  get remoteAddr() {
    return this.#real.remoteAddr;
  }
  release() {
    this.#gate.resolve();
  }
  async write(bytes: Uint8Array): Promise<number> {
    await this.#gate.promise;
    return await this.#real.write(bytes);
  }
  close() {
    this.release();
    this.#real.close();
  }
}

function connection(conn: Deno.Conn | HeldConn, dropped: string[]): TcpConnection {
  const shared: TcpShared = {
    router: { limits: { loginTimeoutMs: 60_000 } } as unknown as Router,
    logger: createLogger("error"),
    identity: {} as ServerIdentity,
    maxLineBytes: 8192,
    writeLimits: {
      maxQueued: 64 * 1024 * 1024,
      slowMs: SLOW_MS,
      onTooSlow: (_addr, why) => dropped.push(why),
    },
  };
  return new TcpConnection(conn as Deno.Conn, shared, {
    remoteAddr: "127.0.0.1",
    dialect: "json",
    connectedAt: performance.now(),
    greeted: false,
    ticket: { release() {} } as Ticket,
  });
}

Deno.test("backlogs: the kernel's send and receive queues of a loopback connection, by ports", async () => {
  const p = await pair();
  try {
    const key = `${(p.server.localAddr as Deno.NetAddr).port}:${
      (p.server.remoteAddr as Deno.NetAddr).port
    }`;
    assert.deepEqual(readBacklogs()?.get(key), { unsent: 0, unread: 0 });
    // The client sends 10 bytes the server does not read; the server sends 4 MiB the client
    // does not read: more than the client's window takes.
    await p.client.write(new Uint8Array(10));
    const big = p.server.write(new Uint8Array(4 * 1024 * 1024)).catch(() => 0);
    await until(() => (readBacklogs()?.get(key)?.unsent ?? 0) > 0, 3000, "bytes unsent");
    assert.equal(readBacklogs()?.get(key)?.unread, 10);
    p.close();
    await big;
  } finally {
    p.close();
  }
});

Deno.test("backlogs: a table line gives both queues; two peers on the same ports keep the larger", () => {
  const table = new Map();
  parseBacklogs(
    [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid",
      "   0: 0100007F:1F90 0100007F:D3A2 01 00000400:00000010 00:00000000 00000000     0",
      "   1: 0200007F:1F90 0300007F:D3A2 01 00000001:00000000 00:00000000 00000000     0",
    ].join("\n"),
    table,
  );
  assert.deepEqual(table.get(`${0x1f90}:${0xd3a2}`), { unsent: 0x400, unread: 0x10 });
});

Deno.test("a write the server has not seen finish, with nothing in the socket for the reader, drops no one", async () => {
  const p = await pair();
  const held = new HeldConn(p.server);
  const dropped: string[] = [];
  const tcp = connection(held, dropped);
  try {
    tcp.writeLine("x".repeat(100), 1, true);
    // Several timeouts with the write unfinished: the kernel holds nothing for the reader.
    await sleep(SLOW_MS * 4 + 500);
    assert.deepEqual(dropped, []);
    assert.equal(tcp.tooSlow, false);
    // Once the server gets to it, the line arrives.
    held.release();
    const buf = new Uint8Array(200);
    const n = await p.client.read(buf);
    assert.equal(n, 101);
  } finally {
    held.close();
    p.close();
    await tcp.end(undefined);
  }
});

Deno.test("a reader that stops reading is still dropped: the kernel holds what it did not take", async () => {
  const p = await pair();
  const dropped: string[] = [];
  const tcp = connection(p.server, dropped);
  try {
    // More than the kernel buffers take on loopback, and the client reads nothing.
    tcp.writeLine("x".repeat(16 * 1024 * 1024), 1, true);
    await until(() => tcp.tooSlow, 5000, "the drop");
    assert.deepEqual(dropped, [`no write progress for ${SLOW_MS} ms`]);
  } finally {
    p.close();
    await tcp.end(undefined);
  }
});
