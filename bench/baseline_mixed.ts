/**
 * The baseline for `--transport mixed`: baseline_tcp.ts and baseline_ws.ts in one process on one
 * hub, so a line from a TCP client reaches the WebSocket clients too (as Parley's transports
 * share one router).
 *
 *   deno run --allow-net bench/baseline_mixed.ts
 */
import { announce, Hub } from "./baseline_hub.ts";
import { serveBaselineTcp } from "./baseline_tcp.ts";
import { serveBaselineWs } from "./baseline_ws.ts";

const hub = new Hub();
const listener = serveBaselineTcp(hub);
const wsPort = await serveBaselineWs(hub);
announce("ws", wsPort);
announce("tcp", (listener.addr as Deno.NetAddr).port);
