/**
 * Baseline WebSocket broadcast server: Deno.serve + upgradeWebSocket; every text frame received
 * is sent to every socket with socket.send. No sign-in, no encryption, no storage: the floor
 * Parley's WebSocket transport is compared with.
 *
 *   deno run --allow-net bench/baseline_ws.ts [--port N]
 */
import { announce, Hub, type Member } from "./baseline_hub.ts";

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
    const member: Member = {
      deliver(line) {
        if (socket.readyState === WebSocket.OPEN) socket.send(line);
      },
    };
    socket.onopen = () => hub.members.add(member);
    socket.onmessage = (e) => {
      if (typeof e.data === "string") hub.broadcast(e.data);
    };
    socket.onclose = () => hub.members.delete(member);
    socket.onerror = () => hub.members.delete(member);
    return response;
  });
  return listening.promise;
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--port");
  announce("ws", await serveBaselineWs(new Hub(), i === -1 ? 0 : Number(Deno.args[i + 1])));
}
