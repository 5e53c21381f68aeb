/**
 * Deno's WebSocket idle timeout, armed once the socket is open rather than through
 * `Deno.upgradeWebSocket`'s `idleTimeout` option: the same pings (after half the timeout without
 * a frame from the peer) and the same 1001 close when no answer comes, without what the option
 * keeps. Given to the upgrade, the option makes the runtime add a `close` listener whose closure
 * holds the upgrade's whole scope (the `Request` with its headers and cookie, and the `HttpConn`
 * of `Deno.serveHttp`) for the socket's life: ~7 KiB per idle connection, measured with
 * `bench/ws_floor.ts` (docs/performance.md §16). The listener only stops the idle timer at a
 * close, which the runtime's read loop does itself for a closing handshake; after an abrupt end
 * the timer's next tick sees the socket closed and stops.
 *
 * The runtime keeps the timeout behind two internal symbols, found by their names on the pinned
 * Deno (2.9); a runtime without them gets the option as before (`lateIdleTimeout` false), which
 * works the same and only costs the memory.
 */

/** The runtime's symbols: the timeout in seconds (per socket) and the method that arms it. */
interface IdleSymbols {
  duration: symbol;
  arm: symbol;
}

function findSymbols(): IdleSymbols | undefined {
  try {
    const arm = Object.getOwnPropertySymbols(WebSocket.prototype)
      .find((s) => s.description === "[[serverHandleIdleTimeout]]");
    // An upgrade of a request no server read creates the socket object and nothing else.
    const { socket } = Deno.upgradeWebSocket(
      new Request("http://probe.invalid/", {
        headers: {
          upgrade: "websocket",
          connection: "Upgrade",
          "sec-websocket-key": "AAAAAAAAAAAAAAAAAAAAAA==",
        },
      }),
      { idleTimeout: 7 },
    );
    const duration = Object.getOwnPropertySymbols(socket)
      .find((s) => s.description === "[[idleTimeout]]");
    const owner = socket as unknown as Record<symbol, unknown>;
    if (!arm || !duration || owner[duration] !== 7 || typeof owner[arm] !== "function") {
      return undefined;
    }
    return { duration, arm };
  } catch {
    return undefined;
  }
}

const symbols = findSymbols();

/** True when this runtime lets the idle timeout be armed after the upgrade (Deno 2.9 does). */
export const lateIdleTimeout = symbols !== undefined;

/**
 * The `idleTimeout` to give `Deno.upgradeWebSocket` for a socket whose timeout will be
 * `seconds`: none when `armIdleTimeout` will arm it once the socket is open.
 */
export function upgradeIdleTimeout(seconds: number): number {
  return lateIdleTimeout ? 0 : seconds;
}

/**
 * Arms the idle timeout of an open server WebSocket upgraded with `upgradeIdleTimeout`. Call it
 * in a microtask queued from the `open` event: the runtime decides whether to add its listener
 * right after dispatching `open`, by whether a timeout is set by then.
 */
export function armIdleTimeout(socket: WebSocket, seconds: number): void {
  if (!symbols || socket.readyState !== WebSocket.OPEN) return;
  const owner = socket as unknown as Record<symbol, unknown>;
  owner[symbols.duration] = seconds;
  (owner[symbols.arm] as () => void).call(socket);
}
