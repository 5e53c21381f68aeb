/**
 * This node's sessions in calls that other nodes hold (docs/calls.md, "Across servers"): a call
 * lives on its caller's node; the callee's sessions here ring, answer and signal through it.
 * The relay remembers which of its sessions each such call concerns, passes their call frames
 * to the owner, and hands them what the owner sends back.
 */
import type { CallCommand, CallMessage } from "../bus/messages.ts";
import type { CallMedia, ServerEvent } from "../protocol/types.ts";
import type { ClientSession } from "./client_session.ts";
import type { Router } from "./router.ts";

/** Another node's call, as far as this node's sessions take part in it. */
interface RelayedCall {
  owner: string;
  /** The user of this node's sessions in it (the callee). */
  user: string;
  /** The other party's name, and the media, for an `ended` this node must say itself. */
  with: string;
  media: CallMedia;
  /** This node's sessions still in it: ringing, or the one that answered. */
  sessions: Set<ClientSession>;
}

export class CallRelay {
  readonly #router: Router;
  readonly #takes: (session: ClientSession) => boolean;
  readonly #ownCall: (userKey: string) => boolean;
  readonly #calls = new Map<string, RelayedCall>();
  /** Users whose call state changed here, announced to the other nodes on the next tick. */
  readonly #changed: (userKey: string) => void;

  constructor(
    router: Router,
    takes: (session: ClientSession) => boolean,
    ownCall: (userKey: string) => boolean,
    changed: (userKey: string) => void,
  ) {
    this.#router = router;
    this.#takes = takes;
    this.#ownCall = ownCall;
    this.#changed = changed;
  }

  /** Whether a session of `userKey` here is in another node's call. */
  hasUser(userKey: string): boolean {
    for (const call of this.#calls.values()) if (call.user === userKey) return true;
    return false;
  }

  /**
   * Passes a session's frame about another node's call to that node; false when the session
   * is in no such call (the frame is then the local book's to refuse).
   */
  forward(session: ClientSession, command: CallCommand): boolean {
    const call = this.#calls.get(command.call);
    if (!call?.sessions.has(session)) return false;
    this.#publish({
      kind: "call",
      op: "act",
      to: call.owner,
      call: command.call,
      user: call.user,
      session: session.id,
      command,
    });
    return true;
  }

  /** What the owner of a call sends this node (`deliver`, `refused`). */
  receive(m: CallMessage, from: string): void {
    if (m.op === "refused") {
      const session = this.#session(m.user, m.session);
      session?.emit({ type: "error", ...m.error, ...(m.cid === undefined ? {} : { cid: m.cid }) });
      return;
    }
    if (m.op !== "deliver") return;
    const call = this.#calls.get(m.call);
    if (!call) return this.#ring(m, from);
    const targets = m.session === undefined
      ? [...call.sessions]
      : [...call.sessions].filter((s) => s.id === m.session);
    this.#router.fanout(m.event, targets.filter((s) => !s.closed));
    if (m.event.type !== "call" || m.event.state !== "ended") return;
    for (const s of targets) call.sessions.delete(s);
    if (call.sessions.size === 0) this.#calls.delete(m.call);
    this.#changed(call.user);
  }

  /** A session here went away: the owners of the calls it was in hear it. */
  gone(session: ClientSession): void {
    for (const [id, call] of this.#calls) {
      if (!call.sessions.delete(session)) continue;
      if (call.sessions.size === 0) this.#calls.delete(id);
      this.#publish({
        kind: "call",
        op: "gone",
        to: call.owner,
        call: id,
        user: call.user,
        session: session.id,
      });
      this.#changed(call.user);
    }
  }

  /** The node holding some calls died: their sessions here hear the calls ended. */
  ownerGone(node: string): void {
    for (const [id, call] of this.#calls) {
      if (call.owner !== node) continue;
      this.#calls.delete(id);
      const event: ServerEvent = {
        type: "call",
        call: id,
        with: call.with,
        media: call.media,
        state: "ended",
        reason: "disconnected",
      };
      this.#router.fanout(event, [...call.sessions].filter((s) => !s.closed));
      this.#changed(call.user);
    }
  }

  /** Forgets every call (this node shuts down: its sessions close next). */
  clear(): void {
    this.#calls.clear();
  }

  /**
   * An `incoming` call for the sessions of `user` here: every one that takes calls rings, and
   * the owner hears which (none: it counts this node out). A user in a call here already (rung
   * at the same moment from two nodes) is busy.
   */
  #ring(m: Extract<CallMessage, { op: "deliver" }>, owner: string): void {
    const event = m.event;
    if (event.type !== "call" || event.state !== "incoming" || m.session !== undefined) return;
    if (this.hasUser(m.user) || this.#ownCall(m.user)) {
      return this.#publish({
        kind: "call",
        op: "rang",
        to: owner,
        call: m.call,
        user: m.user,
        sessions: [],
        busy: true,
      });
    }
    const sessions = [...this.#router.sessionsOf(m.user)].filter((s) =>
      !s.closed && this.#takes(s)
    );
    if (sessions.length > 0) {
      this.#calls.set(m.call, {
        owner,
        user: m.user,
        with: event.with,
        media: event.media,
        sessions: new Set(sessions),
      });
      this.#router.fanout(event, sessions);
      this.#changed(m.user);
    }
    this.#publish({
      kind: "call",
      op: "rang",
      to: owner,
      call: m.call,
      user: m.user,
      sessions: sessions.map((s) => s.id),
    });
  }

  #session(userKey: string, id: number): ClientSession | undefined {
    for (const s of this.#router.sessionsOf(userKey)) if (s.id === id) return s;
    return undefined;
  }

  #publish(message: CallMessage): void {
    this.#router.cluster.publish(message);
  }
}
