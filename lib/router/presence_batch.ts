import type { ServerEvent } from "../protocol/types.ts";
import type { ClientSession } from "./client_session.ts";

/** One user's latest change of the current round. */
interface Change {
  key: string;
  name: string;
  state: "online" | "offline";
  /** Its place in the order of changes; a reader's `presenceSeen` is one of these. */
  seq: number;
  /** Superseded by a later change of the same user in the same round. */
  stale: boolean;
}

/** What the batch needs of the router: who is signed in here, and a fan-out. */
export interface PresenceAudience {
  readonly online: ReadonlyMap<string, ReadonlySet<ClientSession>>;
  fanout(event: ServerEvent, targets: Iterable<ClientSession>): number;
}

/**
 * A round waits 0.1 ms per user online here, between these: a storm of sign-ins (a restart) is
 * then a few rounds a second, each one frame per reader, whatever the number signing in.
 */
const MS_PER_USER = 0.1;
const MIN_WAIT_MS = 50;
const MAX_WAIT_MS = 1000;

/**
 * Online and offline changes, told to the readers in rounds: each reader gets, per round, ONE
 * `presence` frame per state listing every user whose state changed (`users`), or the single-user
 * form when only one did. Sent one by one, a restart of n users was n²/2 frames to seal, write,
 * open and parse (12.5 million at 5,000); coalesced it is a few frames per reader.
 *
 * Each signed-in session keeps how far it has been told (`presenceSeen`): it starts when the
 * session comes online, just before its welcome listing is made, so a user coming online as the
 * reader signs in is told at least once (listing or presence), at most twice (both). Before a frame the reader waits on (a message, a
 * reply), its part of the round goes first (`catchUp`): a `presence` still comes before a
 * message its user sent after coming online.
 */
export class PresenceBatch {
  #changes: Change[] = [];
  readonly #byKey = new Map<string, Change>();
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly #audience: PresenceAudience;

  constructor(audience: PresenceAudience) {
    this.#audience = audience;
  }

  /** The newest change: a session coming online now has been told everything up to it. */
  get seq(): number {
    return this.#seq;
  }

  /** Records that the user of `key` came online or went offline; told at the end of the round. */
  add(key: string, name: string, state: "online" | "offline"): void {
    const before = this.#byKey.get(key);
    if (before) before.stale = true;
    const change: Change = { key, name, state, seq: ++this.#seq, stale: false };
    this.#changes.push(change);
    this.#byKey.set(key, change);
    if (this.#timer !== undefined || this.#stopped) return;
    const wait = Math.min(
      MAX_WAIT_MS,
      Math.max(MIN_WAIT_MS, this.#audience.online.size * MS_PER_USER),
    );
    this.#timer = setTimeout(this.flush, wait);
  }

  /** Tells `session` now what the round holds for it: before a frame it waits on. */
  catchUp(session: ClientSession): void {
    const seen = session.presenceSeen;
    if (seen >= this.#seq || session.user === undefined) return;
    session.presenceSeen = this.#seq;
    const events = presenceEvents(this.#changes, firstAfter(this.#changes, seen), session.user.key);
    for (const event of events) session.emit(event);
  }

  /** Ends the round: every reader not yet told gets its part, as one frame per state. */
  flush = (): void => {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const changes = this.#changes;
    const last = this.#seq;
    this.#changes = [];
    // Readers with the same part (most: everyone online before the round) share one encoding.
    const groups = new Map<string, { from: number; except: string; sessions: ClientSession[] }>();
    for (const [key, sessions] of this.#audience.online) {
      const own = this.#byKey.get(key);
      for (const s of sessions) {
        const seen = s.presenceSeen;
        if (seen >= last) continue;
        s.presenceSeen = last;
        const from = firstAfter(changes, seen);
        // The reader's own change, when its part holds one, is left out of it.
        const mine = own !== undefined && own.seq > seen ? key : "";
        const id = `${from}:${mine}`;
        let group = groups.get(id);
        if (!group) groups.set(id, group = { from, except: mine, sessions: [] });
        group.sessions.push(s);
      }
    }
    this.#byKey.clear();
    for (const { from, except, sessions } of groups.values()) {
      for (const event of presenceEvents(changes, from, except)) {
        this.#audience.fanout(event, sessions);
      }
    }
  };

  /** Stops the rounds: the server is shutting down, and its sessions are told nothing more. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Index of the first change after `seq` (changes are in order of `seq`). */
function firstAfter(changes: readonly Change[], seq: number): number {
  let lo = 0;
  let hi = changes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (changes[mid].seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The `presence` events telling the changes from index `from` on, but those about `exceptKey`:
 * per state, the single-user form for one user and `users` for several.
 */
export function presenceEvents(
  changes: readonly Change[],
  from: number,
  exceptKey: string,
): ServerEvent[] {
  const online: string[] = [];
  const offline: string[] = [];
  for (let i = from; i < changes.length; i++) {
    const c = changes[i];
    if (c.stale || c.key === exceptKey) continue;
    (c.state === "online" ? online : offline).push(c.name);
  }
  const events: ServerEvent[] = [];
  for (const [state, users] of [["online", online], ["offline", offline]] as const) {
    if (users.length === 1) events.push({ type: "presence", user: users[0], state });
    else if (users.length > 1) events.push({ type: "presence", state, users });
  }
  return events;
}
