/** The transport suite (tests/transport_conformance.ts) over the WebSocket. */
import { WsChannel } from "../lib/client/ws_channel.ts";
import { RawWebSocket } from "./raw_ws.ts";
import { runTransportSuite } from "./transport_conformance.ts";

runTransportSuite({
  name: "ws",
  connect: (server) => WsChannel.open(`ws://127.0.0.1:${server.httpPort}/ws`),
  async stall(server) {
    const socket = new WebSocket(`ws://127.0.0.1:${server.httpPort}/ws`);
    const closed = new Promise<void>((resolve) => socket.onclose = () => resolve());
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    // Open, and silent: the client_hello never comes.
    return { closed };
  },
  async raw(server) {
    const socket = await RawWebSocket.connect(server.httpPort);
    return {
      send: (line) => socket.sendText(line),
      receive: () => socket.readText(),
      close: () => socket.close(),
    };
  },
});
