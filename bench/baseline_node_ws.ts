/**
 * Baseline WebSocket broadcast server on npm `ws` over `node:http`, inside Deno: the same hub and
 * the same slow-reader rules as baseline_ws.ts (Deno.serve + Deno.upgradeWebSocket), for deciding
 * on figures whether Parley's HTTP port could move to `ws` (issue 16, target 2's alternative:
 * less memory per idle socket; its broadcast cost must not take target 1 with it).
 *
 *   deno run --allow-net --allow-env --allow-read bench/baseline_node_ws.ts [--port N]
 *   deno task bench broadcast --transport ws --ws-baseline node-ws ...
 */
import http from "node:http";
import { announce, Hub, type Member, stallWatch } from "./baseline_hub.ts";
import { Reader } from "./baseline_ws.ts";
// Only the bench uses it: not a dependency of the server.
// deno-lint-ignore no-import-prefix
import { WebSocketServer } from "npm:ws@8";

/** What is used of an npm `ws` socket: the same names as the web's WebSocket. */
interface NodeWs {
  on(event: "message", listener: (data: unknown, isBinary: boolean) => void): void;
  on(event: "close" | "error", listener: () => void): void;
}

export function serveBaselineNodeWs(hub: Hub, port = 0): Promise<number> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" });
    res.end("baseline: WebSocket only\n");
  });
  server.on("upgrade", (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws: NodeWs) => {
      const gone = () => {
        hub.members.delete(member);
        stallWatch.delete(reader);
      };
      const reader = new Reader(ws as unknown as WebSocket, gone);
      const member: Member = { deliver: (line, bytes) => reader.send(line, bytes().length - 1) };
      hub.members.add(member);
      ws.on("message", (data, isBinary) => {
        if (!isBinary) hub.receive(member, String(data));
      });
      ws.on("close", gone);
      ws.on("error", gone);
    });
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--port");
  announce("ws", await serveBaselineNodeWs(new Hub(), i === -1 ? 0 : Number(Deno.args[i + 1])));
}
