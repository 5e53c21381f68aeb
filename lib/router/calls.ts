/**
 * Calls as the router runs them: the {@linkcode CallBook} over client sessions, which sessions
 * take calls (they said so with `calls`), the ICE servers they are told, and the entry each
 * call leaves in its conversation. Every event goes out through `Router.fanout`, the same
 * delivery as any other live event to a user's sessions; to sessions on other nodes through
 * the bus (docs/calls.md, "Across servers"): a call lives on its caller's node.
 */
import type { CallCommand, CallMessage } from "../bus/messages.ts";
import { ParleyError } from "../errors.ts";
import { newMessageId } from "../ids.ts";
import { callEntryText } from "../protocol/call_entry.ts";
import type {
  CallEntry,
  CallMedia,
  IceServer,
  MessageEvent,
  ServerEvent,
} from "../protocol/types.ts";
import { privateConv } from "../store/conv.ts";
import { CallBook, type CallParty, type FinishedCall } from "./call_book.ts";
import { CallRelay } from "./call_relay.ts";
import { deliverMessage } from "./translated_delivery.ts";
import type { ClientSession } from "./client_session.ts";
import type { Router } from "./router.ts";

/**
 * Where a party of a call is: a session of this node; `node/id`, a session of another node; or
 * `node/`, the sessions of the callee another node rings, until it says which they are.
 */
export type CallEnd = ClientSession | string;

export class Calls {
  readonly book: CallBook<CallEnd>;
  /** What sessions that take calls are told to use (`--ice-servers`). */
  readonly iceServers: readonly IceServer[];
  readonly #router: Router;
  readonly #takers = new WeakSet<ClientSession>();
  /** This node's sessions in calls other nodes hold. */
  readonly #relay: CallRelay;
  /** Users whose call state changed, announced to the other nodes once per tick. */
  readonly #changed = new Set<string>();

  constructor(router: Router, iceServers: readonly IceServer[]) {
    this.#router = router;
    this.iceServers = iceServers;
    this.#relay = new CallRelay(
      router,
      (s) => this.takes(s),
      (key) => this.book.inCall(key),
      (key) => this.#touch(key),
    );
    this.book = new CallBook<CallEnd>({
      send: (targets, event, callee) => this.#send(targets, event, callee.key),
      finished: (call) => void this.#logEntry(call),
    }, {
      ringMs: router.limits.callRingMs,
      busyElsewhere: (key) => this.#relay.hasUser(key) || router.cluster.remote.inCall(key),
    });
  }

  /** Marks a session as one that takes calls, or not. */
  setTaker(session: ClientSession, on: boolean): void {
    if (on) this.#takers.add(session);
    else this.#takers.delete(session);
    if (session.user) this.#touch(session.user.key);
  }

  /** Whether this session said it takes calls. */
  takes(session: ClientSession): boolean {
    return this.#takers.has(session);
  }

  /** What the other nodes are told of a user here: whether they take calls, and are in one. */
  flags(key: string): { calls?: true; inCall?: true } {
    const flags: { calls?: true; inCall?: true } = {};
    for (const s of this.#router.sessionsOf(key)) if (this.takes(s)) flags.calls = true;
    if (this.book.inCall(key) || this.#relay.hasUser(key)) flags.inCall = true;
    return flags;
  }

  /**
   * Rings `callee` on this node's `sessions` that take calls and on the other `nodes` where
   * theirs do; returns the call id (see {@linkcode CallBook.ring}).
   */
  ring(
    session: ClientSession,
    callee: CallParty,
    sessions: readonly ClientSession[],
    nodes: readonly string[],
    media: CallMedia,
    cid?: string,
  ): string {
    const user = session.user!;
    return this.book.ring(
      { session, party: { key: user.key, name: user.name } },
      callee,
      [...sessions, ...nodes.map((node) => `${node}/`)],
      media,
      cid,
    );
  }

  /**
   * A session's frame about a call: run here when this node holds the call, else passed to the
   * node that does.
   * @throws {ParleyError} what the book refuses (`no_such_call`, `call_state`).
   */
  command(session: ClientSession, command: CallCommand): void {
    if (!this.book.has(command.call) && this.#relay.forward(session, command)) return;
    this.#run(session, session.user!.key, command);
  }

  /** Tells the sessions of `userKey` on every node that do not take calls `text`. */
  tried(userKey: string, text: string): void {
    this.#tellTried(userKey, text);
    if (this.#router.cluster.remote.has(userKey)) {
      this.#router.cluster.publish({ kind: "call", op: "tried", user: userKey, text });
    }
  }

  /** What another node sends about calls (`lib/bus/messages.ts`, `CallMessage`). */
  receive(m: CallMessage, from: string): void {
    if (m.op === "tried") return this.#tellTried(m.user, m.text);
    if (m.to !== this.#router.cluster.bus?.node) return;
    switch (m.op) {
      case "deliver":
      case "refused":
        return this.#relay.receive(m, from);
      case "rang":
        if (m.busy) return this.book.busy(m.call);
        return this.book.replaceRinging(
          m.call,
          `${from}/`,
          m.sessions.map((id) => `${from}/${id}`),
        );
      case "gone":
        return this.book.gone(`${from}/${m.session}`, m.user);
      case "act":
        try {
          this.#run(`${from}/${m.session}`, m.user, m.command);
        } catch (err) {
          if (!(err instanceof ParleyError)) {
            this.#router.logger.error("call frame of another node failed", { error: err });
          }
          const error = err instanceof ParleyError
            ? { code: err.code, message: err.message }
            : { code: "internal", message: "Something went wrong on the server." };
          this.#router.cluster.publish({
            kind: "call",
            op: "refused",
            to: from,
            call: m.call,
            user: m.user,
            session: m.session,
            error,
            ...(m.command.cid === undefined ? {} : { cid: m.command.cid }),
          });
        }
    }
  }

  /** Another node left (shut down, or its heartbeats stopped): its side of every call ends. */
  nodeGone(node: string): void {
    this.book.goneWhere((s) => typeof s === "string" && s.startsWith(`${node}/`));
    this.#relay.ownerGone(node);
  }

  /** A signed-in session went away: the call it was in ends, or rings on elsewhere. */
  gone(session: ClientSession): void {
    if (!session.user) return;
    this.book.gone(session, session.user.key);
    this.#relay.gone(session);
    // Its user may take calls on this node no longer: the other nodes hear it now.
    if (this.takes(session)) this.#touch(session.user.key);
  }

  /** Ends every call (shutdown): the sessions close next. */
  close(): void {
    this.book.close();
    this.#relay.clear();
  }

  /** Runs a call frame of `actor` (of this node or another) on a call this node holds. */
  #run(actor: CallEnd, userKey: string, command: CallCommand): void {
    const { book } = this;
    switch (command.type) {
      case "call_accept":
        return book.accept(command.call, actor, userKey, command.cid);
      case "call_decline":
        return book.decline(command.call, actor, userKey, command.cid);
      case "call_hangup":
        return book.hangup(command.call, actor, userKey, command.cid);
    }
    const kind = command.type === "call_offer"
      ? "offer"
      : command.type === "call_answer"
      ? "answer"
      : "ice";
    const peer = book.peerOf(command.call, actor, userKey, kind);
    this.#send(
      [peer],
      command.type === "call_ice"
        ? { type: "call_ice", call: command.call, candidate: command.candidate }
        : { type: command.type, call: command.call, sdp: command.sdp },
      book.calleeOf(command.call)!.key,
    );
  }

  #tellTried(userKey: string, text: string): void {
    const others = [...this.#router.sessionsOf(userKey)].filter((s) => !this.takes(s));
    if (others.length) this.#router.fanout({ type: "info", text }, others);
  }

  /**
   * Writes `event` to this node's sessions among `targets`, and has the other nodes write it to
   * theirs: those are always the callee's (`callee`), as the caller's node holds the call.
   */
  #send(targets: readonly CallEnd[], event: ServerEvent, callee: string): void {
    const local: ClientSession[] = [];
    for (const target of targets) {
      if (typeof target !== "string") {
        if (!target.closed) local.push(target);
        continue;
      }
      const slash = target.indexOf("/");
      const id = target.slice(slash + 1);
      this.#router.cluster.publish({
        kind: "call",
        op: "deliver",
        to: target.slice(0, slash),
        call: (event as { call: string }).call,
        user: callee,
        ...(id === "" ? {} : { session: Number(id) }),
        event,
      });
    }
    this.#router.fanout(event, local);
    if (event.type !== "call") return;
    for (const s of local) this.#touch(s.user!.key);
  }

  /** `key`'s call state changed here: the other nodes hear it (once per tick). */
  #touch(key: string): void {
    if (!this.#router.cluster.bus) return;
    if (this.#changed.size === 0) {
      queueMicrotask(() => {
        for (const k of this.#changed) this.#router.cluster.announce(k);
        this.#changed.clear();
      });
    }
    this.#changed.add(key);
  }

  /**
   * The call's entry in the conversation of the two: a message of the caller's, committed to
   * the log like any other, so history, every device and the unread count show it.
   */
  async #logEntry(call: FinishedCall): Promise<void> {
    const router = this.#router;
    const entry: CallEntry = {
      media: call.media,
      outcome: call.outcome,
      ...(call.duration === undefined ? {} : { duration: call.duration }),
    };
    const message: MessageEvent = {
      type: "message",
      id: newMessageId(),
      from: call.caller.name,
      to: call.callee.name,
      text: callEntryText(entry),
      ts: Date.now(),
      call: entry,
    };
    // The words are English; translation gives them to each reader in their own language.
    const lang = "en";
    try {
      const appended = await router.store.appendMessage({
        id: message.id,
        conv: privateConv(call.caller.key, call.callee.key),
        senderKey: call.caller.key,
        from: message.from,
        to: message.to,
        text: message.text,
        ts: message.ts,
        lang,
        call: entry,
      });
      message.seq = appended.seq;
    } catch (err) {
      // A full disk loses the entry, not the call; the log says so.
      router.logger.error("call entry not stored", { error: err });
      return;
    }
    const targets = new Set<ClientSession>([
      ...router.sessionsOf(call.caller.key),
      ...router.sessionsOf(call.callee.key),
    ]);
    const users = [call.caller.key, call.callee.key];
    const conv = privateConv(call.caller.key, call.callee.key);
    const { langs, translated } = deliverMessage(
      router,
      message,
      targets,
      { key: call.caller.key, lang },
      { id: message.id },
      { alsoLangs: router.cluster.remoteLangs(users) },
    );
    // The two's devices on other nodes read it from the store, as any message: one entry.
    router.cluster.stored(
      { conv, seq: message.seq!, id: message.id, sender: call.caller.key, lang, users },
      langs,
      translated,
    );
  }
}
