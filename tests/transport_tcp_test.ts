/** The transport suite (tests/transport_conformance.ts) over TCP JSON mode. */
import { TcpLineChannel } from "../lib/client/mod.ts";
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
});
