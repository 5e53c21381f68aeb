/**
 * The browser's connection to Parley: the shared ReconnectingClient over a WebSocket that the
 * session cookie signs in, feeding a ChatState. Nothing here runs until `start()`, so the
 * server can render the window without a socket.
 */
import { Backoff } from "../lib/client/backoff.ts";
import { ServerError } from "../lib/client/client.ts";
import { ReconnectingClient } from "../lib/client/reconnect.ts";
import { SecureChannel } from "../lib/client/secure_channel.ts";
import { pinFingerprint } from "../lib/crypto/mod.ts";
import { BROADCAST } from "../lib/protocol/types.ts";
import { effect } from "@preact/signals";
import { ChatState, EVERYONE, keyOf } from "./chat_state.ts";
import { loadContacts, saveContacts } from "./contacts.ts";
import { WsChannel } from "../lib/client/ws_channel.ts";

/** Thrown by the dialer when the session cookie no longer signs anybody in. */
class SignedOut extends Error {}

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
    const client = new ReconnectingClient({
      dial: () => this.#dial(),
      // The cookie signs the WebSocket in: the server sends the welcome by itself.
      signIn: (c) => c.nextOf("welcome"),
      initialDelayMs: 500,
      maxDelayMs: 15_000,
      pingIntervalMs: 20_000,
    });
    this.#client = client;
    client.on((e) => this.state.apply(e));
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
    const raw = await WsChannel.open(`${scheme}://${location.host}/ws`);
    // The encrypted session (docs/security.md §6): pinned to the fingerprint the page came with.
    return await SecureChannel.establish(raw, { verifyIdentity: pinFingerprint(fingerprint) });
  }
}

/**
 * Reads what the user typed: `@name text` writes to `name` (`@all` to everyone), anything else
 * goes to the open conversation.
 */
export function parseDraft(draft: string, active: string): { to: string; text: string } {
  const m = /^@([^\s@]+)\s+([\s\S]*)$/.exec(draft.trimStart());
  if (m) return { to: m[1], text: m[2].trim() };
  return { to: active === EVERYONE ? BROADCAST : active, text: draft.trim() };
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
