/** The transport suite (tests/transport_conformance.ts) over TCP JSON mode. */
import assert from "node:assert/strict";
import { TcpLineChannel } from "../lib/client/mod.ts";
import { encodeLine } from "../server/tcp_connection.ts";
import { runTransportSuite } from "./transport_conformance.ts";

runTransportSuite({
  name: "tcp",
  connect: (server) => TcpLineChannel.connect({ port: server.port }),
  async stall(server) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    // `{` starts JSON mode (no text greeting); the rest of the client_hello never comes.
    await conn.write(new TextEncoder().encode("{"));
    const buf = new Uint8Array(1024);
    const closed = (async () => {
      try {
        while (await conn.read(buf) !== null) { /* nothing is expected */ }
      } catch { /* reset */ }
      conn.close();
    })();
    return { closed };
  },
  async raw(server) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const decoder = new TextDecoder();
    let text = "";
    return {
      async send(line) {
        const bytes = new TextEncoder().encode(line + "\n");
        for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
      },
      async receive() {
        const buf = new Uint8Array(4096);
        while (!text.includes("\n")) {
          const n = await conn.read(buf);
          if (n === null) throw new Error("closed before a line");
          text += decoder.decode(buf.subarray(0, n), { stream: true });
        }
        const line = text.slice(0, text.indexOf("\n"));
        text = text.slice(line.length + 1);
        return line;
      },
      close: () => conn.close(),
    };
  },
});

Deno.test("tcp: a line handed to reader after reader is encoded once, and each line right", () => {
  const line = "[#lobby] ana: héllo";
  const first = encodeLine(line);
  // A fan-out writes the same string to every text-mode reader: the same bytes, not a copy each.
  assert.equal(encodeLine(line), first);
  assert.deepEqual(first, new TextEncoder().encode(line + "\n"));
  const other = encodeLine("[#lobby] bo: 日本");
  assert.deepEqual(other, new TextEncoder().encode("[#lobby] bo: 日本\n"));
  assert.deepEqual(encodeLine(line), first, "an earlier line again is encoded again, right");
});
