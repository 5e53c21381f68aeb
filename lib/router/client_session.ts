import { ParleyError } from "../errors.ts";
import { decodeJsonFrame, encodeJsonEvent, type RawCommand } from "../protocol/json.ts";
import { encodeTextEvent, TextLineReader } from "../protocol/text.ts";
import type { ServerEvent } from "../protocol/types.ts";
import { TokenBucket } from "../token_bucket.ts";
import type { Connection } from "./connection.ts";
import { clientIdOf, dispatch, refuse } from "./dispatch.ts";
import type { Router } from "./router.ts";
import { isLazyEvent } from "./lazy_events.ts";
import { ReaderWatch, type TrackedMessage } from "./reader_watch.ts";
import type { DeviceState } from "./device_state.ts";
import { TextReadMarks } from "./text_read_marks.ts";
import { TextReceipts } from "./text_receipts.ts";

/** The signed-in identity of a session. */
export interface SignedInUser {
  name: string;
  key: string;
  lang: string;
}

let nextSessionId = 1;

/** A frame waiting for the replay of stored messages to finish. */
export interface HeldFrame {
  frame: string;
  /** The message it carries, kept until the socket takes it (see `ClientSession.write`). */
  track?: TrackedMessage;
  /** The message it carries (id, and seq when stored): a catch-up may have carried it already. */
  message?: { id: string; seq?: number };
}

/** Error codes that mean a limit was hit, counted in `/metrics`. */
const LIMIT_CODES: ReadonlySet<string> = new Set(["rate_limited", "too_large", "throttled"]);

/** What a text-mode session keeps besides what every session does. */
interface TextModeState {
  reader: TextLineReader;
  reads: TextReadMarks;
  receipts: TextReceipts;
  showOriginals: boolean;
  lastHistory: { with: string; before: number } | undefined;
}

/** Commands a connection may have waiting behind a slow one. */
const MAX_QUEUED_COMMANDS = 64;

const SETTLED: Promise<void> = Promise.resolve();

/**
 * One connection's state inside the router: who it is, its rate limit, and the queue that runs
 * its commands one after another so a send never overtakes the login before it.
 */
export class ClientSession {
  readonly id = nextSessionId++;
  readonly conn: Connection;
  /** Whether the reader keeps up, and what it may not have taken. */
  readonly watch: ReaderWatch;
  user: SignedInUser | undefined;
  /** The browser login (its token's hash) that signed this session in, if one did. */
  webLogin: string | undefined;
  /** The rate limit; made when first needed, dropped at rest when full (see `rest`). */
  #bucket: TokenBucket | undefined;
  /** Events held back while stored messages are replayed, so live ones do not overtake them. */
  holding: HeldFrame[] | undefined;
  #unacked: Set<string> | undefined;
  /** Ids of stored messages sent and not yet acknowledged (made when first needed). */
  get unacked(): Set<string> {
    return this.#unacked ??= new Set();
  }
  /** The last presence change this reader has been told of (`PresenceBatch`). */
  presenceSeen = 0;
  /** True when the last stored batch was full, so more may wait. */
  morePending = false;
  /** Signed in with a device id: its cursor and catch-up (undefined: a session without one). */
  device: DeviceState | undefined;
  /** Ids of messages a replay or catch-up wrote while live ones were held back. */
  #replayed: Set<string> | undefined;
  /** What only a text-mode session keeps (undefined in JSON mode): one field, not five. */
  #textMode: TextModeState | undefined;

  #router: Router;
  #queue: Promise<void> = SETTLED;
  #inFlight = 0;
  #loginTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** `connectedAt` (performance.now()) starts the sign-in deadline when the socket opened. */
  constructor(router: Router, conn: Connection, connectedAt: number = performance.now()) {
    this.#router = router;
    this.conn = conn;
    this.watch = new ReaderWatch(conn);
    const { loginTimeoutMs } = router.limits;
    if (conn.dialect === "text") {
      this.#textMode = {
        reader: new TextLineReader(),
        reads: new TextReadMarks(router, this),
        receipts: new TextReceipts(),
        showOriginals: router.textOriginals,
        lastHistory: undefined,
      };
    }
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

  /** Text mode: what it shows moves the read markers (undefined in JSON mode). */
  get textReads(): TextReadMarks | undefined {
    return this.#textMode?.reads;
  }

  /** Text mode: show the original after a translated message (`/originals on|off`). */
  get showOriginals(): boolean {
    return this.#textMode?.showOriginals ?? this.#router.textOriginals;
  }

  set showOriginals(show: boolean) {
    // JSON clients show originals themselves: only a text session keeps the choice.
    if (this.#textMode) this.#textMode.showOriginals = show;
  }

  /** Text mode: the last `/history` page shown, so the same command again shows the one before. */
  get lastHistory(): { with: string; before: number } | undefined {
    return this.#textMode?.lastHistory;
  }

  set lastHistory(page: { with: string; before: number } | undefined) {
    if (this.#textMode) this.#textMode.lastHistory = page;
  }

  /** The connection's rate limit: a full bucket, when none was kept. */
  get bucket(): TokenBucket {
    const { ratePerSec, rateBurst } = this.#router.limits;
    return this.#bucket ??= new TokenBucket(ratePerSec, rateBurst);
  }

  /**
   * The connection went quiet (its transport rests too): drops what is the same made anew. A
   * full bucket is one: a new one starts full. At 10,000 idle connections that is 0.6 MB.
   */
  rest(): void {
    if (this.#bucket?.full) this.#bucket = undefined;
  }

  /** Handles one decoded line from the transport: decodes it, then hands it to `dispatch`. */
  receive(line: string): void {
    if (this.#closed) return;
    this.watch.heard();
    let raw: RawCommand | undefined;
    try {
      if (this.#textMode) {
        const decoded = this.#textMode.reader.decode(line);
        if ("reply" in decoded) return this.emit(decoded.reply);
        if ("none" in decoded) return;
        raw = decoded.command;
      } else {
        raw = decodeJsonFrame(line);
      }
    } catch (err) {
      return refuse(this.#router, this, err, clientIdOf(raw));
    }
    dispatch(this.#router, this, raw);
  }

  /** Runs `task` after the commands queued so far, in order with them. */
  enqueue(task: () => Promise<void> | void): void {
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
    this.enqueue(() => this.emit({ type: "error", code, message }));
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

  /**
   * Text mode's view of an event about to be written: message lines move the read markers, the
   * user's own sends are remembered, and receipts are filtered (`TextReceipts`). Returns false
   * when the event is not to be shown at all. JSON sessions show everything.
   */
  textSees(event: ServerEvent): boolean {
    const text = this.#textMode;
    if (!text) return true;
    const viewer = this.user?.name;
    if (event.type === "message" && event.seq !== undefined && viewer !== undefined) {
      if (event.from === viewer && !event.to.startsWith("#")) {
        text.receipts.sent(event.to, event.seq);
      }
      text.reads.shownMessage(event);
    } else if (event.type === "sent" && event.seq !== undefined && !event.to.startsWith("#")) {
      text.receipts.sent(event.to, event.seq);
    } else if (event.type === "receipt") {
      return text.receipts.wants(event);
    }
    return true;
  }

  /** Encodes and queues one event for this connection only. */
  emit(event: ServerEvent): void {
    if (!this.textSees(event)) return;
    const frame = this.encode(event);
    if (frame !== undefined) this.write(frame, undefined, isLazyEvent(event));
  }

  /** Encodes an event in this connection's dialect, from its user's point of view. */
  encode(event: ServerEvent): string | undefined {
    return this.conn.dialect === "json"
      ? encodeJsonEvent(event)
      : encodeTextEvent(event, this.user?.name, {
        originals: this.showOriginals,
        fileLink: (id) => this.user && this.#router.files?.linkFor(this.user.key, id),
      });
  }

  /**
   * Queues an already-encoded frame, or holds it while stored messages are replayed. `track` is
   * the private message the frame carries: kept until the socket has taken the frame. `lazy`:
   * see `isLazyEvent`.
   */
  write(
    frame: string,
    track?: TrackedMessage,
    lazy = false,
    message?: { id: string; seq?: number },
  ): void {
    if (this.#closed) return;
    // A device's catch-up sent everything up to `pageEnd`: a live copy coming after it (the hint
    // of another node can come that late) would be a duplicate.
    const device = this.device;
    if (device && !this.holding && message?.seq !== undefined && message.seq <= device.pageEnd) {
      return;
    }
    // Presence of the current round first: it changed before this frame was sent.
    if (!lazy && this.presenceSeen < this.#router.presence.seq) this.#router.presence.catchUp(this);
    if (this.holding) this.holding.push({ frame, track, message });
    else this.#send(frame, track, lazy, message);
  }

  /** Writes a frame, keeping `track` until it is taken; returns its frame number. */
  #send(
    frame: string,
    track?: TrackedMessage,
    lazy = false,
    message?: { id: string; seq?: number },
  ): number {
    const index = this.conn.send(frame, lazy);
    this.watch.sent(index, lazy, track);
    if (message?.seq !== undefined) this.device?.sent(message.seq);
    return index;
  }

  /** A replay or catch-up wrote message `id`: a live copy held back meanwhile is dropped. */
  replayed(id: string): void {
    (this.#replayed ??= new Set()).add(id);
  }

  /** Ids of the messages held back, never written. */
  heldIds(): string[] {
    return (this.holding ?? []).flatMap((h) => h.message ? [h.message.id] : []);
  }

  /** Messages this connection was given that may never have reached the reader. */
  untaken(): TrackedMessage[] {
    // Held back behind a replay: never written at all.
    const held = (this.holding ?? []).flatMap((h) => h.track ? [h.track] : []);
    return [...this.watch.untaken(), ...held];
  }

  /**
   * Encodes and writes one event ahead of anything held back (the replay itself). Returns its
   * frame number on the connection, or -1 when nothing was written.
   */
  writeNow(event: ServerEvent): number {
    if (!this.textSees(event)) return -1;
    const frame = this.encode(event);
    if (frame === undefined || this.#closed) return -1;
    return this.#send(frame, undefined, isLazyEvent(event));
  }

  /** Marks the session signed in. */
  signedIn(user: SignedInUser): void {
    this.user = user;
    this.#textMode?.reader.signedIn(true);
    clearTimeout(this.#loginTimer);
    this.#loginTimer = undefined;
  }

  /** Releases events held during a replay, in the order they arrived. */
  release(): void {
    const held = this.holding;
    this.holding = undefined;
    const replayed = this.#replayed;
    this.#replayed = undefined;
    for (const h of held ?? []) {
      // Stored before the replay read the store: it went out with the replay already.
      if (h.message && replayed?.has(h.message.id)) continue;
      this.write(h.frame, h.track, false, h.message);
    }
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
    // What it showed is read, unless the reader fell behind: then it may never have seen it.
    if (this.textReads && !this.conn.progress().tooSlow) {
      this.textReads.flush().catch((err) => {
        this.#router.logger.error("text read marker failed", { error: err });
      });
    }
  }

  /** Waits for the commands queued so far. */
  idle(): Promise<void> {
    return this.#queue;
  }
}
