/**
 * What a way in (TCP, WebSocket, later IRC) offers the server above it: lines out, progress, and
 * closing. It reads bytes into lines and hands them to its `Link` (server/link.ts), which runs the
 * secure session and talks to the router; the transport itself knows no protocol.
 */
export interface LineTransport {
  /** `tcp` or `ws`: for logs and metrics. */
  readonly transport: "tcp" | "ws";
  /** The peer's address without port. */
  readonly remoteAddr: string;
  /** Plaintext bytes one sealed line may carry here (see FrameSealer); absent: 1 MiB. */
  readonly maxBatchBytes?: number;
  /** As `maxBatchBytes`, for a line of lazy frames alone (presence); absent: `maxBatchBytes`. */
  readonly maxLazyBatchBytes?: number;
  /**
   * Queues one line (no newline: the transport frames it) that carries `frames` router frames
   * (0 for a handshake line). `first` marks the first line of a flush: a backlog is judged once
   * per flush, since one flush may hold several lines at once.
   */
  writeLine(line: string, frames: number, first: boolean): void;
  /**
   * Whether a write is still on its way out (TCP: a write in flight or lines queued; WebSocket:
   * bytes buffered). A sealer batches behind a busy socket instead of sealing at once.
   */
  readonly busy: boolean;
  /** Router frames the socket took, as of the last time the transport could tell (a lower bound). */
  readonly accepted: number;
  /** Router frames that left the server's own queues (written, or handed to the WebSocket). */
  readonly handedOver: number;
  /** Set once a close began, from either side. */
  readonly closing: boolean;
  /** Set once the transport gave up on a reader that fell too far behind. */
  readonly tooSlow: boolean;
  /** The peer sent bytes not read yet (see `Connection.inputWaiting`); optional. */
  inputWaiting?(): boolean;
  /** Resolves when every line queued so far has left the transport. */
  flushed(): Promise<void>;
  /** Writes what is queued (after `pending`, lines still being sealed), then closes. */
  close(reason: string, pending?: Promise<void>): void;
  /** Drops what waits and hangs up, counting the reader as too slow. */
  abort(why: string): void;
  /** Hangs up at once, without a goodbye: the session cannot go on (`why` for the peer, if it can be told). */
  hangUp(why: string): void;
}
