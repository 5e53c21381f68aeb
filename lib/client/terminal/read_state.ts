import { type ConversationInfo, conversationKey } from "../events.ts";

/** How long printed lines gather before their read markers go to the server. */
const READ_DEBOUNCE_MS = 500;

/** One conversation's read state as this client knows it. */
interface Conversation {
  /** As the server names it: `@bob`, `#dev`. */
  with: string;
  readSeq: number;
  unread: number;
  /** A read marker waiting to be sent. */
  pending?: number;
}

/**
 * The user's read state per conversation, as the terminal sees it: unread counts come from the
 * server (welcome, `conversations`, `read` events); a line printed here is read (a terminal that
 * prints is in the foreground), so its marker goes to the server a moment later, a few lines
 * at a time, and every device of the user counts it read.
 */
export class ReadState {
  #conversations = new Map<string, Conversation>();
  #mark: (withName: string, upTo: number) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #debounceMs: number;

  /** `mark` sends a read marker (the `read` frame); failures are the caller's to report. */
  constructor(mark: (withName: string, upTo: number) => void, debounceMs = READ_DEBOUNCE_MS) {
    this.#mark = mark;
    this.#debounceMs = debounceMs;
  }

  /** Takes the server's counts (welcome, `conversations` reply) as the truth. */
  reset(conversations: readonly ConversationInfo[]): void {
    for (const c of conversations) this.update(c.with, c.readSeq, c.unread);
  }

  /** The server's word on one conversation (a `read` event). */
  update(withName: string, readSeq: number, unread: number): void {
    const c = this.#get(withName);
    // A marker not sent yet is newer than what the server says.
    if (c.pending !== undefined && c.pending > readSeq) return;
    c.readSeq = Math.max(c.readSeq, readSeq);
    c.unread = unread;
  }

  /** A message of `withName` was printed: it is read. `mine` when the user sent it. */
  shown(withName: string, seq: number | undefined, mine: boolean): void {
    if (seq === undefined) return;
    const c = this.#get(withName);
    if (seq <= c.readSeq) return;
    c.readSeq = seq;
    if (!mine && c.unread > 0) c.unread--;
    c.pending = seq;
    this.#timer ??= setTimeout(() => this.flush(), this.#debounceMs);
  }

  /** Sends the waiting read markers now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const c of this.#conversations.values()) {
      if (c.pending === undefined) continue;
      this.#mark(c.with, c.pending);
      c.pending = undefined;
    }
  }

  /** Conversations with unread messages, most unread first: `[["#dev", 3], ...]`. */
  unread(): Array<[string, number]> {
    return [...this.#conversations.values()]
      .filter((c) => c.unread > 0)
      .sort((a, b) => b.unread - a.unread)
      .map((c) => [c.with, c.unread]);
  }

  /** Stops the pending timer (the chat ends). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #get(withName: string): Conversation {
    const key = conversationKey(withName);
    let c = this.#conversations.get(key);
    if (!c) {
      c = {
        with: key.startsWith("@") ? `@${withName.replace(/^@/, "")}` : withName,
        readSeq: 0,
        unread: 0,
      };
      this.#conversations.set(key, c);
    }
    return c;
  }
}
