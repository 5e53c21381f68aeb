/**
 * The browser's connection to Parley: the shared ReconnectingClient over a WebSocket that the
 * session cookie signs in, feeding a ChatState. Nothing here runs until `start()`, so the
 * server can render the window without a socket.
 */
import { Backoff } from "../lib/client/backoff.ts";
import { ServerError } from "../lib/client/client.ts";
import { type ReconnectEvent, ReconnectingClient } from "../lib/client/reconnect.ts";
import { SecureChannel } from "../lib/client/secure_channel.ts";
import { pinFingerprint } from "../lib/crypto/mod.ts";
import { BROADCAST, type FileInfo } from "../lib/protocol/types.ts";
import { effect } from "@preact/signals";
import {
  ChatState,
  conversationKey,
  EVERYONE,
  isRoom,
  keyOf,
  type PendingUpload,
} from "./chat_state.ts";
import { fileLimits, refusalOf, startUpload, UploadError } from "./file_upload.ts";
import { loadContacts, saveContacts } from "./contacts.ts";
import { claimDeviceId } from "./device_id.ts";
import { Notifier } from "./notifier.ts";
import { WsChannel } from "../lib/client/ws_channel.ts";
import { CallController } from "./call_controller.ts";

/** Thrown by the dialer when the session cookie no longer signs anybody in. */
class SignedOut extends Error {}

/** Messages per history page. */
export const HISTORY_PAGE = 50;

/** A typing notice is repeated this often while the user keeps typing (the server's TTL is 5 s). */
const TYPING_REFRESH_MS = 2500;

export interface ChatConnectionOptions {
  /** Called once when the server no longer knows the session (logout elsewhere, expiry). */
  onSignedOut: () => void;
  /** The server's fingerprint from the page: the only identity the encrypted session accepts. */
  serverFingerprint?: string;
}

/** One signed-in browser tab. */
export class ChatConnection {
  readonly state = new ChatState();
  #options: ChatConnectionOptions;
  #client: ReconnectingClient | undefined;
  #typing: { to: string; at: number } | undefined;
  #cids = 0;
  #cidPrefix = randomId();
  #stopped = false;
  #unsaved: (() => void) | undefined;
  /** This tab's device id (docs/protocol.md, "Devices"), once claimed. */
  device = "";
  /** Gives the device id back to the pool (signed out: another tab or sign-in may take it). */
  #releaseDevice = () => {};
  /** Conversations whose older history is being fetched. */
  #loading = new Set<string>();
  readonly notifier = new Notifier();
  /** This tab's calls (islands/call_controller.ts). */
  readonly calls = new CallController();

  constructor(options: ChatConnectionOptions) {
    this.#options = options;
    this.state.serverFingerprint.value = options.serverFingerprint ?? "";
  }

  /** Connects, retrying with backoff until the first sign-in; later drops reconnect by themselves. */
  async start(): Promise<void> {
    const me = this.state.me.value;
    const storage = browserStorage();
    // The saved ones, in their order (most recent first).
    for (const name of loadContacts(storage, me).reverse()) this.state.remember(name);
    this.#unsaved = effect(() => saveContacts(storage, me, this.state.contacts.value));
    const claim = await claimDeviceId(me);
    if (this.#stopped) return claim.release();
    this.device = claim.id;
    this.#releaseDevice = claim.release;
    this.calls.onRing = (peer, media) => this.notifier.ringing(peer, media);
    this.state.onIncoming = (m) => {
      // Of a call's entries only a missed call is news: the others were seen as they happened.
      if (m.call && m.call.outcome !== "missed") return;
      this.notifier.incoming(m, this.state, (c) => this.openConversation(c));
    };
    const client = new ReconnectingClient({
      dial: () => this.#dial(),
      // The cookie signs the WebSocket in: the server sends the welcome by itself.
      signIn: (c) => c.nextOf("welcome"),
      initialDelayMs: 500,
      maxDelayMs: 15_000,
      pingIntervalMs: 20_000,
    });
    this.#client = client;
    client.on((e) => this.#onEvent(e));
    const backoff = new Backoff({ initialDelayMs: 500, maxDelayMs: 15_000 });
    while (!this.#stopped) {
      try {
        await client.connect();
        return;
      } catch (err) {
        if (this.#stopped || err instanceof SignedOut) return;
        const retryInMs = backoff.next();
        this.state.connection.value = {
          state: "offline",
          reason: (err as Error).message,
          retryInMs,
        };
        await new Promise((resolve) => setTimeout(resolve, retryInMs));
      }
    }
  }

  /**
   * Files every event in the state. The protocol client acknowledges what this device was sent
   * (`ack upTo` after each catch-up page, live messages once a second).
   */
  #onEvent(e: ReconnectEvent): void {
    if (e.type !== "status" && e.type !== "retrying" && this.calls.handle(e)) return;
    this.state.apply(e);
    if (e.type === "welcome") {
      // Each sign-in (a reconnect too) tells the server this tab takes calls.
      if (this.#client) this.calls.online(this.#client);
      // The rooms to list, and the open conversation's newest page (it may have moved on).
      this.#client?.rooms().catch(() => {});
      const active = this.state.active.value;
      if (active !== EVERYONE) void this.#fetchHistory(active, undefined);
    } else if (e.type === "status" && e.state !== "online") {
      this.#loading.clear();
      this.calls.offline();
    }
  }

  /** Opens a conversation; the first time, with its newest page of history. */
  openConversation(conversation: string): void {
    this.state.open(conversation);
    if (conversation !== EVERYONE && this.state.more.value[conversation] === undefined) {
      void this.#fetchHistory(conversation, undefined);
    }
  }

  /**
   * Loads the page before the oldest message shown of `conversation`; resolves false when
   * there is nothing older (or it is loading already, or offline).
   */
  loadOlder(conversation: string): Promise<boolean> {
    if (this.state.more.value[conversation] === false) return Promise.resolve(false);
    const seqs = this.state.messages.value
      .filter((m) => m.conversation === conversation && m.seq !== undefined)
      .map((m) => m.seq!);
    if (seqs.length === 0) return this.#fetchHistory(conversation, undefined);
    return this.#fetchHistory(conversation, Math.min(...seqs));
  }

  async #fetchHistory(conversation: string, before: number | undefined): Promise<boolean> {
    const client = this.#client;
    if (!client || conversation === EVERYONE || this.#loading.has(conversation)) return false;
    this.#loading.add(conversation);
    try {
      // The reply comes through the event listener too, which files the page.
      await client.history(this.state.wireName(conversation), before, HISTORY_PAGE);
      return true;
    } catch (err) {
      // An unknown peer or a room left: nothing older to show.
      if (err instanceof ServerError) {
        this.state.more.value = { ...this.state.more.value, [conversation]: false };
      }
      return false;
    } finally {
      this.#loading.delete(conversation);
    }
  }

  /** Whether older history of `conversation` is loading now. */
  loading(conversation: string): boolean {
    return this.#loading.has(conversation);
  }

  /**
   * The user has seen `conversation` up to `seq` (on screen, in a visible and focused tab):
   * the read marker moves, on every device of the user, and senders get their receipts.
   */
  seen(conversation: string, seq: number | undefined): void {
    if (!this.state.markRead(conversation, seq) || seq === undefined) return;
    // The server's `read` answers every tab of the user; a refusal leaves the count as is.
    this.#client?.read(this.state.wireName(conversation), seq).catch(() => {});
  }

  /**
   * Joins the room `name` (creating it, `visibility` public or invite-only, when nobody has
   * that name) and opens it. Rejects with the server's reason in words.
   */
  async join(name: string, visibility: "public" | "invite" = "public"): Promise<void> {
    const room = name.trim().replace(/^#/, "");
    await this.#ask((c) => c.join(room, visibility));
    const key = conversationKey(`#${room}`);
    this.state.dropInvite(key);
    this.openConversation(key);
  }

  /** Leaves a room. */
  leave(room: string): Promise<void> {
    return this.#ask((c) => c.leave(roomName(room)));
  }

  /**
   * Turns down the invitation to `room`: a `leave` of a room one is only invited to, so the
   * server forgets it for every device and the next sign-in (its `left` answers every tab).
   */
  async decline(room: string): Promise<void> {
    await this.leave(room);
    this.state.dropInvite(conversationKey(`#${room.trim().replace(/^#/, "")}`));
  }

  /** Sets a room's topic. */
  setTopic(room: string, text: string): Promise<void> {
    return this.#ask((c) => c.topic(roomName(room), text));
  }

  /** Invites `user` into a room. */
  invite(room: string, user: string): Promise<void> {
    return this.#ask((c) => c.invite(roomName(room), user.trim().replace(/^@/, "")));
  }

  /** Removes `user` from a room (owner). */
  kick(room: string, user: string): Promise<void> {
    return this.#ask((c) => c.kick(roomName(room), user));
  }

  /** Hands a room over to `user` (owner). */
  handOver(room: string, user: string): Promise<void> {
    return this.#ask((c) => c.owner(roomName(room), user));
  }

  /** Asks who is in a room (the reply fills `state.members`). */
  members(room: string): Promise<void> {
    return this.#ask((c) => c.members(roomName(room)));
  }

  /** Lists the rooms one can join, and the user's (the reply fills `state.rooms`). */
  listRooms(): Promise<void> {
    return this.#ask((c) => c.rooms());
  }

  /** Sends read receipts, or stops (kept with the account, on every device). */
  async setReceipts(on: boolean): Promise<void> {
    try {
      await this.#ask((c) => c.receipts(on));
      this.state.notice.value = "";
    } catch (err) {
      this.state.notice.value = `Could not change read receipts: ${(err as Error).message}`;
    }
  }

  /** A request whose reply the event listener files; rejects with words for the user. */
  async #ask(request: (client: ReconnectingClient) => Promise<unknown>): Promise<void> {
    const client = this.#client;
    if (!client || client.state !== "online") {
      throw new Error("Not connected. Try again when the connection is back.");
    }
    try {
      await request(client);
    } catch (err) {
      throw new Error(
        err instanceof ServerError ? serverMessage(err) : "No answer from the server.",
      );
    }
  }

  /**
   * Sends `text` to `to` (a name, or `all`). Shown at once as "sending"; kept and resent across
   * reconnects until the server answers.
   */
  send(to: string, text: string): void {
    const client = this.#client;
    if (!client) return;
    const cid = `${this.#cidPrefix}-${++this.#cids}`;
    this.state.addOwn(to, text, cid);
    this.#typing = undefined;
    client.send(to, text, cid).then(
      (sent) => this.state.settleOwn(cid, sent),
      (err) =>
        this.state.failOwn(cid, err instanceof ServerError ? serverMessage(err) : String(err)),
    );
  }

  /**
   * Uploads `file` (with a progress bar and a cancel button in the composer), then shares it
   * with `to` like a message. A file over the server's limit or the user's quota is refused
   * before a byte is sent, in the words the server would use.
   */
  async shareFile(to: string, file: Blob, name: string): Promise<void> {
    const key = `${this.#cidPrefix}-u${++this.#cids}`;
    const set = (change: Partial<PendingUpload>) => {
      this.state.uploads.value = this.state.uploads.value.map((u) =>
        u.key === key ? { ...u, ...change } : u
      );
    };
    const entry: PendingUpload = { key, name, to, size: file.size, loaded: 0, cancel: () => {} };
    this.state.uploads.value = [...this.state.uploads.value, entry];
    const refusal = refusalOf(file, await fileLimits());
    if (refusal) return set({ error: refusal });
    const upload = startUpload(file, name, (loaded) => set({ loaded }));
    set({ cancel: upload.cancel });
    let info: FileInfo;
    try {
      info = await upload.done;
    } catch (err) {
      if (err instanceof UploadError && err.cancelled) return this.dismissUpload(key);
      return set({ error: (err as Error).message });
    }
    this.dismissUpload(key);
    const client = this.#client;
    if (!client) return;
    const cid = `${this.#cidPrefix}-${++this.#cids}`;
    this.state.addOwn(to, "", cid, info);
    client.send(to, "", cid, info.id).then(
      (sent) => this.state.settleOwn(cid, sent),
      (err) =>
        this.state.failOwn(cid, err instanceof ServerError ? serverMessage(err) : String(err)),
    );
  }

  /** Takes an upload (finished, failed or cancelled) off the list. */
  dismissUpload(key: string): void {
    this.state.uploads.value = this.state.uploads.value.filter((u) => u.key !== key);
  }

  /** Tells `to` the user is typing (refreshed while they type), or that they stopped. */
  typing(to: string, active: boolean): void {
    const client = this.#client;
    if (!client || !to) return;
    const now = Date.now();
    const last = this.#typing;
    if (active) {
      if (last && keyOf(last.to) === keyOf(to) && now - last.at < TYPING_REFRESH_MS) return;
      if (last && keyOf(last.to) !== keyOf(to)) client.typing(last.to, false);
      this.#typing = { to, at: now };
      client.typing(to, true);
    } else if (last) {
      this.#typing = undefined;
      client.typing(last.to, false);
    }
  }

  /**
   * One page of the accounts whose name starts with `query`; `cursor` is the page before's
   * `next`. Rejects while offline.
   */
  searchUsers(query: string, cursor?: string) {
    const client = this.#client;
    if (!client) return Promise.reject(new Error("not connected"));
    return client.searchUsers(query, cursor);
  }

  /** Changes the preferred language on every device of the user. */
  async setLang(lang: string): Promise<void> {
    try {
      await this.#client?.setLang(lang);
      this.state.notice.value = "";
    } catch (err) {
      this.state.notice.value = `Could not change the language: ${
        err instanceof ServerError ? serverMessage(err) : "not connected"
      }`;
    }
  }

  /** Ends the session on the server and closes the socket. */
  async logout(): Promise<void> {
    this.stop();
    await fetch("/api/logout", { method: "POST", credentials: "same-origin" }).catch(() => {});
  }

  /** Closes the connection for good (no reconnect). */
  stop(): void {
    this.#stopped = true;
    this.calls.offline();
    this.#releaseDevice();
    this.#unsaved?.();
    this.#client?.close();
  }

  async #dial(): Promise<SecureChannel> {
    const fingerprint = this.#options.serverFingerprint;
    if (!fingerprint) throw new Error("the page did not say which server identity to trust");
    // Asked first, so a session ended elsewhere shows the login form instead of retrying.
    const res = await fetch("/api/session", { credentials: "same-origin", cache: "no-store" })
      .catch(() => {
        throw new Error("cannot reach the server");
      });
    if (res.status === 401) {
      this.stop();
      this.#options.onSignedOut();
      throw new SignedOut("signed out");
    }
    if (!res.ok) throw new Error(`server answered ${res.status}`);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // The device rides on the URL: the cookie signs the socket in before any frame.
    const device = this.device ? `?device=${encodeURIComponent(this.device)}` : "";
    const raw = await WsChannel.open(`${scheme}://${location.host}/ws${device}`);
    // The encrypted session (docs/security.md §6): pinned to the fingerprint the page came with.
    return await SecureChannel.establish(raw, { verifyIdentity: pinFingerprint(fingerprint) });
  }
}

/**
 * Reads what the user typed: `@name text` writes to `name` (`@all` to everyone), anything else
 * goes to the open conversation. In a room everything goes to the room: there `@name` is a
 * mention, as in every group chat.
 */
export function parseDraft(draft: string, active: string): { to: string; text: string } {
  if (isRoom(active)) return { to: active, text: draft.trim() };
  const m = /^@([^\s@]+)\s+([\s\S]*)$/.exec(draft.trimStart());
  if (m) return { to: m[1], text: m[2].trim() };
  return { to: active === EVERYONE ? BROADCAST : active, text: draft.trim() };
}

/** A room's name as frames take it: without `#`, as typed or as keyed. */
function roomName(room: string): string {
  return room.trim().replace(/^#/, "");
}

function serverMessage(err: ServerError): string {
  return err.message.replace(/^[a-z_]+: /, "");
}

/** localStorage, or undefined where the browser refuses it (private modes, file: pages). */
function browserStorage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => b.toString(36).padStart(2, "0")).join("");
}
