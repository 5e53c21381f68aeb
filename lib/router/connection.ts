import type { Dialect } from "../protocol/types.ts";

/**
 * What the router needs of a transport: a thin adapter over one TCP socket or WebSocket. The
 * router hands it encoded frames; the adapter adds its framing (a newline or a WebSocket
 * message; in JSON mode it first seals them, the frames of one turn in one sealed batch) and
 * writes.
 */
export interface Connection {
  /** `tcp`, `ws`, ...: for logs and metrics. */
  readonly transport: string;
  /** The peer's address without port, for throttling. */
  readonly remoteAddr: string;
  readonly dialect: Dialect;
  /**
   * Queues one encoded frame (a JSON object, or one or more text lines) for writing. Returns its
   * number on this connection: 0, 1, 2, ... in the order sent. A `lazy` frame (see
   * `isLazyEvent`) may wait for company (up to a second, more on a big server); frames still go
   * out in order.
   */
  send(frame: string, lazy?: boolean): number;
  /**
   * Text mode: how many frames the socket has taken (handed to the operating system); every
   * frame numbered below this is out of the server's hands. A connection that only carries JSON
   * mode may report less (a lower bound, or 0): there, the client's heartbeat answers tell what
   * it read.
   */
  readonly accepted: number;
  /**
   * How many frames have left the server's own queues: written to the socket (TCP) or handed to
   * the WebSocket. Heartbeats are timed from then. Undefined: as soon as they are sent.
   */
  readonly handedOver?: number;
  /**
   * Frames from the client the server has read but not yet opened (decrypting waits its turn
   * when the server is busy): a heartbeat's answer may be among them. Undefined: none.
   */
  readonly inputPending?: number;
  /**
   * The connection has been quiet (nothing sent or received) for `Limits.restAfterMs`: drop what the
   * next frame can rebuild, such as a secure session's imported keys. Returns whether it dropped
   * anything. Optional.
   */
  rest?(): boolean;
  /** True once the transport dropped the connection because its reader fell too far behind. */
  readonly tooSlow: boolean;
  /** Resolves when every frame queued so far has been written to the socket. */
  flushed(): Promise<void>;
  /**
   * Drops a connection whose reader is not reading (it did not answer a heartbeat in time):
   * what waits is discarded, and it counts as too slow. The transport then calls `detach()`.
   */
  abort(why: string): void;
  /** Writes what is queued, then closes. The transport then calls `Session.detach()`. */
  close(reason: string): void;
}
