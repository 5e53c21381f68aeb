import type { Dialect } from "../protocol/types.ts";

/**
 * Where a connection's reader stands, as its transport sees it now. Frame numbers are those
 * `Connection.send` returned.
 */
export interface ReaderProgress {
  /**
   * Frames the socket took (handed to the operating system): every frame numbered below this is
   * out of the server's hands. Text mode counts delivery by it; a connection that only carries
   * JSON mode may report less (a lower bound, or 0): there, heartbeat answers tell what was read.
   */
  accepted: number;
  /**
   * Frames that have left the server's own queues: written to the socket (TCP) or handed to the
   * WebSocket. A heartbeat's time runs from then.
   */
  handedOver: number;
  /**
   * Frames from the client the server has read but not yet opened (decrypting waits its turn when
   * the server is busy): a heartbeat's answer may be among them.
   */
  inputPending: number;
  /** The transport dropped the connection because its reader fell too far behind. */
  tooSlow: boolean;
}

/**
 * What the router needs of a transport: a thin adapter over one TCP socket or WebSocket. The
 * router hands it encoded frames; the adapter adds its framing (a newline or a WebSocket
 * message; in JSON mode it first seals them, the frames of one turn in one sealed batch) and
 * writes. Whether its reader keeps up is the router's reader watch's business
 * (lib/router/reader_watch.ts): the adapter only reports `progress`.
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
   * `isLazyEvent`) may wait for company (up to `Limits.lazyWaitMs`); frames still go out in order.
   */
  send(frame: string, lazy?: boolean): number;
  /** A snapshot of where the reader stands; cheap enough to ask every heartbeat tick. */
  progress(): ReaderProgress;
  /**
   * Whether the peer sent bytes the server has not even read yet (they wait in the operating
   * system's receive queue while the server is busy): a heartbeat's answer may be among them.
   * Asked only before dropping a reader, so it may cost more than `progress`. Optional: a
   * transport that cannot tell leaves it out.
   */
  inputWaiting?(): boolean;
  /** Resolves when every frame queued so far has been written to the socket. */
  flushed(): Promise<void>;
  /**
   * The connection has been quiet (nothing sent or received) for `Limits.restAfterMs`: drop what the
   * next frame can rebuild, such as a secure session's imported keys. Returns whether it dropped
   * anything. Optional.
   */
  rest?(): boolean;
  /**
   * Drops a connection whose reader is not reading (it did not answer a heartbeat in time):
   * what waits is discarded, and it counts as too slow. The transport then calls `detach()`.
   */
  abort(why: string): void;
  /** Writes what is queued, then closes. The transport then calls `ClientSession.detach()`. */
  close(reason: string): void;
}
