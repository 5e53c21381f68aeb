import { type FrameChannel, ServerError } from "../client.ts";
import { type BackoffOptions } from "../backoff.ts";
import { ReconnectingClient } from "../reconnect.ts";
import type { ClientArgs } from "./args.ts";
import { isRoom } from "../events.ts";
import {
  CHAT_HELP,
  type ChatAction,
  isBroadcast,
  parseChatLine,
  typingTarget,
} from "./commands.ts";
import { Formatter } from "./format.ts";
import { getFile, sendFile, TransferError, type TransferOptions } from "./files.ts";
import { formatBytes } from "../../files/names.ts";
import { signIn } from "./sign_in.ts";
import type { Terminal } from "./terminal.ts";
import { ChatView } from "./view.ts";

/** Everything the terminal chat needs from its surroundings. */
export interface ChatOptions {
  args: ClientArgs;
  terminal: Terminal;
  /** Colours on the output. */
  color: boolean;
  /** Opens a channel to the server. */
  dial: () => Promise<FrameChannel>;
  /** Retry delays after a lost connection. */
  backoff?: BackoffOptions;
  /** This install's device id, sent at every sign-in (undefined: none, as older clients). */
  device?: string;
  /** CA certificates to trust for file transfers over HTTPS (`--ca-cert`). */
  caCerts?: string[];
}

/** A typing refresh keeps the indicator alive; the server forgets it after 5 s. */
const TYPING_REFRESH_MS = 3000;
/** How long leaving waits for unconfirmed messages. */
const FLUSH_MS = 5000;

/** Runs the terminal chat: sign in, then read lines until the user leaves. Returns the exit code. */
export async function runChat(options: ChatOptions): Promise<number> {
  const { args, terminal: term } = options;
  const fmt = new Formatter({ color: options.color });
  const where = `${args.host}:${args.port}`;
  const client = new ReconnectingClient({ dial: options.dial, ...options.backoff });
  // What is printed here is read; a marker that cannot go now goes with the next one.
  const view = new ChatView(term, fmt, where, (withName, upTo) => {
    if (client.state === "online") client.read(withName, upTo).catch(() => {});
  });
  client.on((e) => view.show(e));
  try {
    return await chat(client, view, fmt, options);
  } finally {
    view.close();
  }
}

async function chat(
  client: ReconnectingClient,
  view: ChatView,
  fmt: Formatter,
  options: ChatOptions,
): Promise<number> {
  const { args, terminal: term } = options;
  const welcome = await signIn(client, term, fmt, args, options.device);
  if (!welcome) {
    client.close();
    return 1;
  }

  const typing = new TypingNotifier(client);
  term.onEdit = (line) => typing.edited(typingTarget(line, view.peer));
  const ended = client.closed.then(() => null);

  while (true) {
    const line = await Promise.race([term.readLine(), ended]);
    if (client.state === "closed") return 1; // The server refused the credentials.
    if (line === null) break;
    const action = parseChatLine(line);
    if (action.kind !== "send" && action.kind !== "reply") typing.stop();
    switch (action.kind) {
      case "none":
        break;
      case "invalid":
        view.print(fmt.error(action.message));
        break;
      case "help":
        view.print(CHAT_HELP);
        break;
      case "quit":
        return await leave(client, view, fmt);
      case "who":
        client.who().catch((err) => notConnected(err, view, fmt));
        break;
      case "lang":
        client.setLang(action.lang).catch((err) => notConnected(err, view, fmt));
        break;
      case "original":
        view.showOriginal(action.n);
        break;
      case "originals":
        view.setShowOriginals(action.show);
        break;
      case "switch":
        view.setPeer(action.to.startsWith("@") ? action.to.slice(1) : action.to);
        break;
      case "send_file":
      case "get_file":
        transfer(client, view, fmt, action, { caCerts: options.caCerts });
        break;
      case "join":
      case "leave":
      case "rooms":
      case "topic":
      case "invite":
      case "kick":
      case "owner":
      case "members":
      case "history":
      case "unread":
      case "receipts":
        roomAction(client, view, fmt, action);
        break;
      case "send":
      case "reply": {
        const to = action.kind === "send" ? action.to : view.peer;
        if (!to) {
          view.print(
            fmt.error(
              "Whom to? Start with @name (private) or @all (everyone), e.g. @all hello, or " +
                "#room for a room you are in (/join #room enters one).",
            ),
          );
          break;
        }
        typing.sent();
        send(client, view, fmt, to, action.text);
        break;
      }
    }
  }
  return await leave(client, view, fmt);
}

function send(
  client: ReconnectingClient,
  view: ChatView,
  fmt: Formatter,
  to: string,
  text: string,
): void {
  const before = view.peer;
  if (!isBroadcast(to)) view.setPeer(to);
  if (client.state !== "online") {
    view.print(fmt.info("not connected: the message goes out once the connection is back"));
  }
  client.send(to, text).then(
    (sent) => view.showSent(sent, text),
    (err) => {
      // The server's refusal was shown with the other errors; undo the new conversation.
      if (err instanceof ServerError) {
        if (NOT_THERE.has(err.code) && view.peer === to) view.setPeer(before);
        return;
      }
      view.print(fmt.error(`Not sent to ${to}: ${(err as Error).message}`));
    },
  );
}

/**
 * `/send` and `/get`, in the background: the chat goes on while the bytes move; progress and
 * the outcome are printed as they come.
 */
function transfer(
  client: ReconnectingClient,
  view: ChatView,
  fmt: Formatter,
  action: Extract<ChatAction, { kind: "send_file" | "get_file" }>,
  options: TransferOptions,
): void {
  const progress = (line: string) => view.print(fmt.info(line));
  const failed = (err: unknown) => {
    if (!(err instanceof TransferError)) throw err;
    view.print(fmt.error(err.message));
  };
  if (action.kind === "send_file") {
    sendFile(client, action.to, action.path, progress, options).then(
      (file) => progress(`shared ${file.name} (${formatBytes(file.size)}) with ${action.to}`),
      failed,
    );
    return;
  }
  getFile(client, action.id, action.path, progress, options).then(
    (got) => progress(`saved ${got.path} (${formatBytes(got.size)})`),
    failed,
  );
}

/** Refusals that mean the conversation is not one the user can write to. */
const NOT_THERE = new Set(["no_such_user", "no_such_room", "not_a_member"]);

type RoomAction = Extract<
  ChatAction,
  {
    kind:
      | "join"
      | "leave"
      | "rooms"
      | "topic"
      | "invite"
      | "kick"
      | "owner"
      | "members"
      | "history"
      | "unread"
      | "receipts";
  }
>;

/**
 * Runs a room, history or read-state command. The replies are shown by the view as events; a
 * refusal as the server's error; only a missing connection is said here.
 */
function roomAction(
  client: ReconnectingClient,
  view: ChatView,
  fmt: Formatter,
  action: RoomAction,
): void {
  const failed = (err: unknown) => notConnected(err, view, fmt);
  // Commands about a room default to the current one, and need one.
  const aboutRoom = ROOM_DEFAULTED.has(action.kind);
  const room = aboutRoom ? (action as { room?: string }).room ?? currentRoom(view) : undefined;
  if (aboutRoom && room === undefined) {
    view.print(fmt.error(`Which room? Add #<room>, or /join one first (see /help).`));
    return;
  }
  switch (action.kind) {
    case "join":
      client.join(action.room, action.visibility, action.create).catch(failed);
      return;
    case "leave":
      client.leave(room!).catch(failed);
      return;
    case "rooms":
      client.rooms().catch(failed);
      return;
    case "topic":
      client.topic(room!, action.text).catch(failed);
      return;
    case "invite":
    case "kick":
    case "owner":
      client[action.kind](room!, action.user).catch(failed);
      return;
    case "members":
      client.members(room!).catch(failed);
      return;
    case "history": {
      const withName = action.with ??
        (view.peer === undefined ? undefined : isRoom(view.peer) ? view.peer : `@${view.peer}`);
      if (withName === undefined) {
        view.print(fmt.error("Whose history? /history @name or /history #room."));
        return;
      }
      if (!view.askHistory(withName)) {
        view.print(fmt.info("The page before is on its way…"));
        return;
      }
      let before = view.historyBefore(withName);
      // Once the beginning was shown, start again from the newest.
      if (before === 0) {
        view.restartHistory(withName);
        before = undefined;
      }
      client.history(withName, before, action.n).catch((err) => {
        view.historyFailed(withName);
        failed(err);
      });
      return;
    }
    case "unread":
      client.conversations().catch(() => view.showUnread());
      return;
    case "receipts":
      if (action.on === undefined) {
        const on = view.receiptsOn;
        view.print(
          fmt.info(
            on === false
              ? "Read receipts are off (/receipts on sends them)."
              : "Read receipts are on (/receipts off stops them).",
          ),
        );
        return;
      }
      client.receipts(action.on).catch(failed);
      return;
  }
}

/** Room commands whose room may be left out: the current conversation's. */
const ROOM_DEFAULTED = new Set(["leave", "topic", "invite", "kick", "owner", "members"]);

/** The current conversation when it is a room. */
function currentRoom(view: ChatView): string | undefined {
  return view.peer && isRoom(view.peer) ? view.peer : undefined;
}

function notConnected(err: unknown, view: ChatView, fmt: Formatter): void {
  if (err instanceof ServerError) return; // Shown with the other errors.
  view.print(fmt.error("Not connected right now; try again once reconnected."));
}

async function leave(client: ReconnectingClient, view: ChatView, fmt: Formatter): Promise<number> {
  if (client.pendingSends > 0) {
    view.print(fmt.info("waiting for the server to confirm your last messages…"));
    const left = await client.flush(FLUSH_MS);
    if (left > 0) {
      view.print(fmt.error(`${left} message${left === 1 ? " was" : "s were"} not confirmed.`));
    }
  }
  await client.quit();
  view.print(fmt.info("bye"));
  return 0;
}

/** Sends typing indicators while the user types, refreshed, and stopped when they stop. */
class TypingNotifier {
  #client: ReconnectingClient;
  #to: string | undefined;
  #last = 0;

  constructor(client: ReconnectingClient) {
    this.#client = client;
  }

  /** After each edit, with whom the line is addressed to (undefined: nobody yet). */
  edited(to: string | undefined): void {
    if (to !== this.#to) {
      this.stop();
      this.#to = to;
    }
    if (to === undefined) return;
    const now = Date.now();
    if (now - this.#last < TYPING_REFRESH_MS) return;
    this.#last = now;
    this.#client.typing(to, true);
  }

  /** The line was sent: the server ends the indicator by itself. */
  sent(): void {
    this.#to = undefined;
    this.#last = 0;
  }

  /** The line was cleared or was a command. */
  stop(): void {
    if (this.#to !== undefined) this.#client.typing(this.#to, false);
    this.sent();
  }
}
