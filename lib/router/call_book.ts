/**
 * The calls in progress and their state machine (docs/protocol.md, "Calls"), apart from any
 * transport or store so it can be driven on its own: what it decides goes out through a
 * {@linkcode CallSink}. A user is in at most one call at a time, as caller or callee.
 *
 *   ringing ──accept (one callee session)──▶ accepted ──hangup / disconnect──▶ over (ended)
 *      │ decline, cancel, timeout, busy, every ringing session gone              ▲
 *      └────────────────────────────────────────────────────────────────────────┘
 */
import { ParleyError } from "../errors.ts";
import type { CallEndReason, CallMedia, CallOutcome, ServerEvent } from "../protocol/types.ts";

/** One side of a call: the user's key (who they are) and name (as others see it). */
export interface CallParty {
  key: string;
  name: string;
}

/** A call that is over, for the entry it leaves in the conversation. */
export interface FinishedCall {
  caller: CallParty;
  callee: CallParty;
  media: CallMedia;
  outcome: CallOutcome;
  /** Seconds from the answer to the end (`ended`). */
  duration?: number;
}

/** Where the book's decisions go. */
export interface CallSink<S> {
  /**
   * Writes `event` to these sessions of the call's parties; `callee` is whose they are when they
   * are not the caller's (a sink that reaches sessions elsewhere by user needs it).
   */
  send(targets: readonly S[], event: ServerEvent, callee: CallParty): void;
  /** A call is over; its entry goes into the conversation of the two. */
  finished(call: FinishedCall): void;
}

export interface CallBookOptions {
  /** How long a call rings before it counts as missed. */
  ringMs: number;
  /** Milliseconds now (for durations). @default Date.now */
  now?: () => number;
  /** Whether a user is in a call this book does not hold (another node's). */
  busyElsewhere?: (userKey: string) => boolean;
}

/** Which signalling frame a session relays. */
export type SignalKind = "offer" | "answer" | "ice";

interface Call<S> {
  id: string;
  media: CallMedia;
  caller: CallParty;
  callee: CallParty;
  callerSession: S;
  /** The callee's sessions still ringing (until one accepts). */
  ringing: Set<S>;
  /** The callee's session that accepted. */
  calleeSession?: S;
  acceptedAt?: number;
  timer?: ReturnType<typeof setTimeout>;
}

const ALPHABET = "0123456789abcdefghijklmnopqrstuv";

/** A new call id: `call-` and 26 random base-32 characters (130 bits). */
export function newCallId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(26));
  let id = "call-";
  for (const b of bytes) id += ALPHABET[b & 31];
  return id;
}

function noSuchCall(): ParleyError {
  return new ParleyError("no_such_call", "There is no such call: it has ended, or is not yours.");
}

/** The calls of one server, by id and by user. */
export class CallBook<S> {
  readonly #sink: CallSink<S>;
  readonly #ringMs: number;
  readonly #now: () => number;
  readonly #busyElsewhere: (userKey: string) => boolean;
  readonly #calls = new Map<string, Call<S>>();
  /** The call each user is in, as caller or callee. */
  readonly #byUser = new Map<string, Call<S>>();

  constructor(sink: CallSink<S>, options: CallBookOptions) {
    this.#sink = sink;
    this.#ringMs = options.ringMs;
    this.#now = options.now ?? Date.now;
    this.#busyElsewhere = options.busyElsewhere ?? (() => false);
  }

  /** Whether `userKey` is in a call of this book (ringing or answered). */
  inCall(userKey: string): boolean {
    return this.#byUser.has(userKey);
  }

  /** The callee of the call `id`, while this book holds it. */
  calleeOf(id: string): CallParty | undefined {
    return this.#calls.get(id)?.callee;
  }

  /** Whether this book holds the call `id`. */
  has(id: string): boolean {
    return this.#calls.has(id);
  }

  /** How many calls are in progress. */
  get size(): number {
    return this.#calls.size;
  }

  /**
   * Rings `callee` on `sessions` (those of theirs that take calls). The caller's session hears
   * `ringing` (with `cid`), the callee's `incoming`. When the callee is in another call, the
   * caller hears `ended`/`busy` at once and the callee gets a missed call. Returns the call id.
   * @throws {ParleyError} `call_self`, `in_call` (the caller is in a call), `user_offline`
   * (no session to ring).
   */
  ring(
    from: { session: S; party: CallParty },
    callee: CallParty,
    sessions: readonly S[],
    media: CallMedia,
    cid?: string,
  ): string {
    const caller = from.party;
    if (caller.key === callee.key) {
      throw new ParleyError("call_self", "You cannot call yourself.");
    }
    if (this.#byUser.has(caller.key) || this.#busyElsewhere(caller.key)) {
      throw new ParleyError("in_call", "You are already in a call: hang up first.");
    }
    if (sessions.length === 0) {
      throw new ParleyError(
        "user_offline",
        `${callee.name} is offline: calls reach only people online.`,
      );
    }
    const id = newCallId();
    const base = { type: "call", call: id, media } as const;
    if (this.#byUser.has(callee.key) || this.#busyElsewhere(callee.key)) {
      this.#sink.send([from.session], {
        ...base,
        with: callee.name,
        state: "ended",
        reason: "busy",
        cid,
      }, callee);
      this.#sink.finished({ caller, callee, media, outcome: "missed" });
      return id;
    }
    const call: Call<S> = {
      id,
      media,
      caller,
      callee,
      callerSession: from.session,
      ringing: new Set(sessions),
    };
    this.#calls.set(id, call);
    this.#byUser.set(caller.key, call);
    this.#byUser.set(callee.key, call);
    call.timer = setTimeout(() => this.#end(call, "timeout"), this.#ringMs);
    this.#sink.send([from.session], { ...base, with: callee.name, state: "ringing", cid }, callee);
    this.#sink.send([...sessions], { ...base, with: caller.name, state: "incoming" }, callee);
    return id;
  }

  /**
   * A ringing session of the callee takes the call: both hear `accepted` (the caller then sends
   * its offer), and the callee's other sessions stop ringing (`answered_elsewhere`).
   * @throws {ParleyError} `no_such_call`, `call_state` (already answered).
   */
  accept(id: string, session: S, userKey: string, cid?: string): void {
    const call = this.#find(id, userKey);
    if (call.callee.key !== userKey) throw noSuchCall();
    if (call.calleeSession !== undefined) {
      throw new ParleyError("call_state", "This call was answered already.");
    }
    if (!call.ringing.has(session)) throw noSuchCall();
    clearTimeout(call.timer);
    call.calleeSession = session;
    call.acceptedAt = this.#now();
    call.ringing.delete(session);
    const others = [...call.ringing];
    call.ringing.clear();
    const base = { type: "call", call: id, media: call.media, state: "accepted" } as const;
    this.#sink.send([call.callerSession], { ...base, with: call.callee.name }, call.callee);
    this.#sink.send([session], { ...base, with: call.caller.name, cid }, call.callee);
    if (others.length) {
      this.#sink.send(others, {
        type: "call",
        call: id,
        media: call.media,
        with: call.caller.name,
        state: "ended",
        reason: "answered_elsewhere",
      }, call.callee);
    }
  }

  /**
   * The callee turns a ringing call down (from any ringing session): everyone hears `declined`.
   * @throws {ParleyError} `no_such_call`, `call_state` (answered: hang up instead).
   */
  decline(id: string, session: S, userKey: string, cid?: string): void {
    const call = this.#find(id, userKey);
    if (call.callee.key !== userKey || !this.#isParty(call, session)) throw noSuchCall();
    if (call.calleeSession !== undefined) {
      throw new ParleyError("call_state", "This call was answered: hang up to end it.");
    }
    this.#end(call, "declined", { session, cid });
  }

  /**
   * Ends a call from one of its sessions: the caller cancelling while it rings (`cancelled`), a
   * ringing callee (as `declined`), or either party once answered (`hangup`).
   * @throws {ParleyError} `no_such_call`.
   */
  hangup(id: string, session: S, userKey: string, cid?: string): void {
    const call = this.#find(id, userKey);
    if (!this.#isParty(call, session)) throw noSuchCall();
    if (call.acceptedAt !== undefined) return this.#end(call, "hangup", { session, cid });
    this.#end(call, session === call.callerSession ? "cancelled" : "declined", { session, cid });
  }

  /**
   * The session a signalling frame goes to: the offer from the caller to the callee's session,
   * the answer back, ICE candidates either way; only once the call is answered.
   * @throws {ParleyError} `no_such_call`, `call_state`.
   */
  peerOf(id: string, session: S, userKey: string, kind: SignalKind): S {
    const call = this.#find(id, userKey);
    if (!this.#isParty(call, session)) throw noSuchCall();
    const callee = call.calleeSession;
    if (callee === undefined) {
      throw new ParleyError("call_state", "The call is not answered yet: wait for 'accepted'.");
    }
    const fromCaller = session === call.callerSession;
    if (kind === "offer" && !fromCaller) {
      throw new ParleyError("call_state", "Only the caller sends the offer.");
    }
    if (kind === "answer" && fromCaller) {
      throw new ParleyError("call_state", "Only the callee sends the answer.");
    }
    return fromCaller ? callee : call.callerSession;
  }

  /** A session of `userKey` went away: the call it is part of ends, or rings on without it. */
  gone(session: S, userKey: string): void {
    const call = this.#byUser.get(userKey);
    if (!call || !this.#isParty(call, session)) return;
    if (call.ringing.delete(session)) {
      if (call.ringing.size === 0) this.#end(call, "unreachable");
      return;
    }
    this.#end(call, "disconnected", { session });
  }

  /**
   * While `id` rings, the callee's ringing `group` (their sessions somewhere, not yet named) is
   * replaced by the `sessions` it stands for; with none, as if the group went away.
   */
  replaceRinging(id: string, group: S, sessions: readonly S[]): void {
    const call = this.#calls.get(id);
    if (!call || !call.ringing.delete(group)) return;
    for (const s of sessions) call.ringing.add(s);
    if (call.ringing.size === 0 && call.calleeSession === undefined) this.#end(call, "unreachable");
  }

  /**
   * The callee turned out to be in another call (another node knew it first): a call still
   * ringing ends `busy`, as if they had been busy when it was rung.
   */
  busy(id: string): void {
    const call = this.#calls.get(id);
    if (call && call.calleeSession === undefined) this.#end(call, "busy");
  }

  /** Every session of a call that `lost` picks went away (its node died): as `gone` for each. */
  goneWhere(lost: (session: S) => boolean): void {
    for (const call of [...this.#calls.values()]) {
      for (const s of [call.callerSession, call.calleeSession, ...call.ringing]) {
        if (s === undefined || !lost(s)) continue;
        this.gone(s, s === call.callerSession ? call.caller.key : call.callee.key);
      }
    }
  }

  /** Ends every call (server shutdown) without entries; stops the timers. */
  close(): void {
    for (const call of this.#calls.values()) clearTimeout(call.timer);
    this.#calls.clear();
    this.#byUser.clear();
  }

  #find(id: string, userKey: string): Call<S> {
    const call = this.#calls.get(id);
    if (!call || (call.caller.key !== userKey && call.callee.key !== userKey)) throw noSuchCall();
    return call;
  }

  /** Whether `session` takes part: the caller's, the answering one, or one still ringing. */
  #isParty(call: Call<S>, session: S): boolean {
    return session === call.callerSession || session === call.calleeSession ||
      call.ringing.has(session);
  }

  /**
   * Ends `call` for `reason`: every session still in it hears `ended` (the one whose frame
   * ended it with its `cid`), and the conversation gets its entry.
   */
  #end(call: Call<S>, reason: CallEndReason, by?: { session: S; cid?: string }): void {
    if (this.#calls.get(call.id) !== call) return;
    clearTimeout(call.timer);
    this.#calls.delete(call.id);
    this.#byUser.delete(call.caller.key);
    this.#byUser.delete(call.callee.key);
    const duration = call.acceptedAt === undefined
      ? undefined
      : Math.max(0, Math.round((this.#now() - call.acceptedAt) / 1000));
    const event = (withName: string, cid?: string): ServerEvent => ({
      type: "call",
      call: call.id,
      with: withName,
      media: call.media,
      state: "ended",
      reason,
      ...(duration === undefined ? {} : { duration }),
      ...(cid === undefined ? {} : { cid }),
    });
    const calleeSide = call.calleeSession === undefined ? [...call.ringing] : [call.calleeSession];
    for (const s of [call.callerSession, ...calleeSide]) {
      // The session that went away hears nothing; the one that ended it gets its cid.
      if (reason === "disconnected" && s === by?.session) continue;
      const withName = s === call.callerSession ? call.callee.name : call.caller.name;
      this.#sink.send(
        [s],
        event(withName, s === by?.session ? by.cid : undefined),
        call.callee,
      );
    }
    call.ringing.clear();
    const outcome: CallOutcome = duration !== undefined
      ? "ended"
      : reason === "declined"
      ? "declined"
      : "missed";
    this.#sink.finished({
      caller: call.caller,
      callee: call.callee,
      media: call.media,
      outcome,
      ...(duration === undefined ? {} : { duration }),
    });
  }
}
