import { isParleyError, ParleyError } from "../errors.ts";
import { decodeJsonFrame, encodeJsonEvent, type RawCommand } from "../protocol/json.ts";
import { encodeTextEvent, TextLineReader } from "../protocol/text.ts";
import type { ServerEvent } from "../protocol/types.ts";
import type { StoredMessage } from "../store/store.ts";
import { TokenBucket } from "../token_bucket.ts";
import { COMMANDS, lookupCommand } from "./commands.ts";
import type { Connection } from "./connection.ts";
import type { Router } from "./router.ts";
import { isLazyEvent, LAZY_MAX_WAIT_MS } from "./lazy_events.ts";

/**
 * The longest a heartbeat may go unanswered, in slow-reader timeouts, even while it waits in the
 * server's queues or the server has the client's input still to open.
 */
export const HEARTBEAT_LIMIT = 4;

/** The signed-in identity of a session. */
export interface SessionUser {
  name: string;
  key: string;
  lang: string;
}

let nextSessionId = 1;

/** A frame waiting for the replay of stored messages to finish. */
export interface HeldFrame {
  frame: string;
  /** The private message it carries, kept until the socket takes it (see `Session.write`). */
  track?: StoredMessage;
}

/** Error codes that mean a limit was hit, counted in `/metrics`. */
const LIMIT_CODES: ReadonlySet<string> = new Set(["rate_limited", "too_large", "throttled"]);

/** Commands a connection may have waiting behind a slow one. */
const MAX_QUEUED_COMMANDS = 64;

const SETTLED: Promise<void> = Promise.resolve();

/**
 * One connection's state inside the router: who it is, its rate limit, and the queue that runs
 * its commands one after another so a send never overtakes the login before it.
 */
export class Session {
  readonly id = nextSessionId++;
  readonly conn: Connection;
  user: SessionUser | undefined;
  /** The browser login (its token's hash) that signed this session in, if one did. */
  webLogin: string | undefined;
  readonly bucket: TokenBucket;
  /** Events held back while stored messages are replayed, so live ones do not overtake them. */
  holding: HeldFrame[] | undefined;
  #unacked: Set<string> | undefined;
  /** Ids of stored messages sent and not yet acknowledged (made when first needed). */
  get unacked(): Set<string> {
    return this.#unacked ??= new Set();
  }
  /** True when the last stored batch was full, so more may wait. */
  morePending = false;
  /** Text mode: show the original after a translated message (`/originals on|off`). */
  showOriginals: boolean;

  #router: Router;
  #text: TextLineReader | undefined;
  #queue: Promise<void> = SETTLED;
  #inFlight = 0;
  #loginTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /**
   * Private messages written live that the socket has not taken yet, by frame number. Should
   * the transport drop the connection as too slow, they are stored for the next sign-in rather
   * than lost.
   */
  #unconfirmed: { index: number; message: StoredMessage }[] = [];
  /** The heartbeat waiting for its answer, with its frame number. */
  #beat: { seq: number; index: number; at: number; leftAt?: number } | undefined;
  /** Frame number of the last answered heartbeat: the client has read everything up to it. */
  #read = -1;
  #beats = 0;
  #lastBeatAt: number | undefined;
  #sentSinceBeat = false;
  /** Something was sent or received since the last heartbeat tick. */
  #active = true;
  #quietSince = 0;
  #rested = false;

  /** `connectedAt` (performance.now()) starts the sign-in deadline when the socket opened. */
  constructor(router: Router, conn: Connection, connectedAt: number = performance.now()) {
    this.#router = router;
    this.conn = conn;
    this.showOriginals = router.textOriginals;
    const { ratePerSec, rateBurst, loginTimeoutMs } = router.limits;
    this.bucket = new TokenBucket(ratePerSec, rateBurst);
    if (conn.dialect === "text") this.#text = new TextLineReader();
    this.#loginTimer = setTimeout(() => {
      this.#loginTimer = undefined;
      if (!this.user) {
        this.#router.limitHit("login_timeout");
        this.emit({
          type: "error",
          code: "login_timeout",
          message: `Not signed in within ${Math.round(loginTimeoutMs / 1000)} s.`,
        });
        this.close("login timeout");
      }
    }, Math.max(0, loginTimeoutMs - (performance.now() - connectedAt)));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Handles one decoded line from the transport. */
  receive(line: string): void {
    if (this.#closed) return;
    this.#active = true;
    let raw: RawCommand | undefined;
    try {
      if (this.#text) {
        const decoded = this.#text.decode(line);
        if ("reply" in decoded) return this.emit(decoded.reply);
        if ("none" in decoded) return;
        raw = decoded.command;
      } else {
        raw = decodeJsonFrame(line);
      }
      const spec = lookupCommand(raw.type);
      if (!spec) {
        throw new ParleyError(
          "unknown_command",
          `Unknown command '${String(raw.type).slice(0, 40)}'. Known: ${
            Object.keys(COMMANDS).join(", ")
          }.`,
        );
      }
      // A heartbeat's answer says the client reads now; it must not wait behind its sends.
      if (raw.type === "heartbeat" && typeof raw.seq === "number") {
        return this.heartbeatAnswered(raw.seq);
      }
      // Checked before queueing, so a flood is refused at once instead of piling up.
      if (spec.cost > 0 && !this.bucket.take(spec.cost)) {
        this.#router.stats.rateLimited++;
        throw new ParleyError(
          "rate_limited",
          "Slow down: too many commands; this one was dropped.",
          {
            retryAfter: this.bucket.secondsUntil(spec.cost),
          },
        );
      }
    } catch (err) {
      // A line that is not a command costs a token like one (as in `reject`), so a junk flood
      // cannot make the server answer every line; once the bucket is empty it goes unanswered.
      if (!isParleyError(err, "rate_limited") && !this.bucket.take(1)) {
        this.#router.stats.rateLimited++;
        return;
      }
      const cid = typeof raw?.cid === "string" ? raw.cid : undefined;
      // Replies keep the order of the lines they answer.
      return this.#enqueue(() => this.fail(err, cid));
    }
    const command = raw;
    this.#enqueue(() => this.#router.dispatch(this, command));
  }

  /** Runs `task` after the commands queued so far, in order with them. */
  enqueue(task: () => Promise<void> | void): void {
    this.#enqueue(task);
  }

  #enqueue(task: () => Promise<void> | void): void {
    if (this.#inFlight >= MAX_QUEUED_COMMANDS) {
      // Only reachable while a slow command (a sign-in's key derivation) runs: refuse, do not pile up.
      this.#router.stats.rateLimited++;
      return this.emit({
        type: "error",
        code: "rate_limited",
        message: "Slow down: too many commands waiting.",
      });
    }
    this.#inFlight++;
    this.#queue = this.#queue.then(task).finally(() => {
      // A quiet session keeps the one settled promise every session shares, not its own.
      if (--this.#inFlight === 0) this.#queue = SETTLED;
    });
  }

  /** Reports a transport-level problem with one line (too long, not UTF-8). */
  reject(code: "line_too_long" | "bad_utf8", message: string): void {
    if (this.#closed) return;
    if (code === "line_too_long") this.#router.limitHit(code);
    // A junk flood costs tokens too, so it cannot fill the outbound queue with errors.
    if (!this.bucket.take(1)) return;
    // Queued like every reply, so it keeps its place behind the commands of earlier lines.
    this.#enqueue(() => this.emit({ type: "error", code, message }));
  }

  /** Sends an error event for `err`; unexpected errors are logged and shown as `internal`. */
  fail(err: unknown, cid?: string): void {
    const event: ServerEvent = err instanceof ParleyError
      ? { type: "error", code: err.code, message: err.message }
      : { type: "error", code: "internal", message: "Something went wrong on the server." };
    if (!(err instanceof ParleyError)) {
      this.#router.logger.error("command failed", { session: this.id, error: err });
    } else if (LIMIT_CODES.has(err.code)) this.#router.limitHit(err.code);
    if (err instanceof ParleyError && err.retryAfter !== undefined) {
      event.retryAfter = Math.round(err.retryAfter * 10) / 10;
    }
    if (cid !== undefined) event.cid = cid;
    this.emit(event);
  }

  /** Encodes and queues one event for this connection only. */
  emit(event: ServerEvent): void {
    const frame = this.encode(event);
    if (frame !== undefined) this.write(frame, undefined, isLazyEvent(event));
  }

  /** Encodes an event in this connection's dialect, from its user's point of view. */
  encode(event: ServerEvent): string | undefined {
    return this.conn.dialect === "json"
      ? encodeJsonEvent(event)
      : encodeTextEvent(event, this.user?.name, { originals: this.showOriginals });
  }

  /**
   * Queues an already-encoded frame, or holds it while stored messages are replayed. `track` is
   * the private message the frame carries: kept until the socket has taken the frame. `lazy`:
   * see `isLazyEvent`.
   */
  write(frame: string, track?: StoredMessage, lazy = false): void {
    if (this.#closed) return;
    if (this.holding) this.holding.push({ frame, track });
    else this.#send(frame, track, lazy);
  }

  /** Writes a frame, keeping `track` until it is taken; returns its frame number. */
  #send(frame: string, track?: StoredMessage, lazy = false): number {
    if (!lazy) this.#sentSinceBeat = true;
    this.#active = true;
    const index = this.conn.send(frame, lazy);
    if (!track) return index;
    const taken = this.#taken();
    // Forget what the reader has; the list stays as long as the reader is behind.
    if (this.#unconfirmed.length && this.#unconfirmed[0].index < taken) {
      this.#unconfirmed = this.#unconfirmed.filter((u) => u.index >= taken);
    }
    if (index >= taken) this.#unconfirmed.push({ index, message: track });
    return index;
  }

  /**
   * Frames numbered below this surely reached the reader. In JSON mode that is everything up to
   * the last heartbeat it answered (it read them, in order); in text mode, with no answers to go
   * by, what the socket took.
   */
  #taken(): number {
    return this.conn.dialect === "json" ? this.#read + 1 : this.conn.accepted;
  }

  /**
   * Called by the router's heartbeat tick (JSON mode). A connection that was sent something
   * since its last heartbeat gets a new one; one that leaves a heartbeat unanswered for longer
   * than `timeoutMs` is not reading, however empty its socket buffers look, and is dropped as
   * too slow. Connections with nothing sent are left alone: they cannot be falling behind. Nor
   * are those sent only presence (lazy events): nothing in it waits for the reader's answer, and
   * at 10,000 online everyone is sent presence all the time, so asking them all would cost the
   * server thousands of answers to open a second. A reader that stops reading presence alone is
   * still dropped by the write watch or the byte cap.
   */
  heartbeat(now: number, timeoutMs: number): void {
    if (this.#closed || this.conn.dialect !== "json") return;
    this.#restIfQuiet(now, this.#router.limits.restAfterMs);
    const beat = this.#beat;
    if (beat) {
      // The reader's time starts when the heartbeat has left the server's own queues, and waits
      // while the server still has the client's input to open (the answer may be in it): a
      // server that is behind (sealing for thousands after a restart) must not blame its
      // readers. However far behind, no heartbeat waits longer than HEARTBEAT_LIMIT timeouts
      // (plus the longest a lazy frame may wait to leave, for a short timeout on a big server).
      if (beat.leftAt === undefined && (this.conn.handedOver ?? Infinity) > beat.index) {
        beat.leftAt = now;
      }
      const late = beat.leftAt !== undefined && now - beat.leftAt > timeoutMs &&
        !this.conn.inputPending;
      if (late || now - beat.at > HEARTBEAT_LIMIT * timeoutMs + LAZY_MAX_WAIT_MS) {
        this.conn.abort(`heartbeat ${beat.seq} unanswered for ${timeoutMs} ms`);
      }
      return;
    }
    // At most one every half timeout (the first that long after the first tick): enough to
    // find a stopped reader in time, and cheap.
    this.#lastBeatAt ??= now;
    if (!this.#sentSinceBeat || now - this.#lastBeatAt < timeoutMs / 2) return;
    this.#lastBeatAt = now;
    const seq = ++this.#beats;
    const index = this.writeNow({ type: "heartbeat", seq });
    this.#sentSinceBeat = false;
    this.#beat = { seq, index, at: now };
  }

  /**
   * Tells the connection to rest (`Connection.rest`) once it has been quiet for `afterMs`: a busy
   * one never pays to wake up, and an idle server soon holds only what it needs.
   */
  #restIfQuiet(now: number, afterMs: number): void {
    if (this.#active) {
      this.#active = false;
      this.#quietSince = now;
      this.#rested = false;
    } else if (!this.#rested && now - this.#quietSince >= afterMs) {
      this.#rested = true;
      if (this.conn.rest?.()) this.#router.stats.rests++;
    }
  }

  /** The client answered heartbeat `seq`: it is reading. */
  heartbeatAnswered(seq: number): void {
    if (!this.#beat || seq !== this.#beat.seq) return;
    this.#read = this.#beat.index;
    this.#beat = undefined;
  }

  /** Private messages this connection was given that may never have reached the reader. */
  untaken(): StoredMessage[] {
    const taken = this.#taken();
    const written = this.#unconfirmed.filter((u) => u.index >= taken).map((u) => u.message);
    // Held back behind a replay: never written at all.
    const held = (this.holding ?? []).flatMap((h) => h.track ? [h.track] : []);
    return [...written, ...held];
  }

  /**
   * Encodes and writes one event ahead of anything held back (the replay itself). Returns its
   * frame number on the connection, or -1 when nothing was written.
   */
  writeNow(event: ServerEvent): number {
    const frame = this.encode(event);
    if (frame === undefined || this.#closed) return -1;
    return this.#send(frame, undefined, isLazyEvent(event));
  }

  /** Marks the session signed in. */
  signedIn(user: SessionUser): void {
    this.user = user;
    this.#text?.signedIn(true);
    clearTimeout(this.#loginTimer);
    this.#loginTimer = undefined;
  }

  /** Releases events held during a replay, in the order they arrived. */
  release(): void {
    const held = this.holding;
    this.holding = undefined;
    for (const h of held ?? []) this.write(h.frame, h.track);
  }

  /** Sends `bye`, then asks the transport to close. */
  close(reason: string): void {
    if (this.#closed) return;
    this.release();
    this.emit({ type: "bye", reason });
    this.#closed = true;
    this.conn.close(reason);
  }

  /** Called by the transport when the socket is gone; idempotent. */
  detach(): void {
    clearTimeout(this.#loginTimer);
    this.#loginTimer = undefined;
    this.#closed = true;
    this.#router.detach(this);
  }

  /** Waits for the commands queued so far. */
  idle(): Promise<void> {
    return this.#queue;
  }
}
