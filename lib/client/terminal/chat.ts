import { type FrameChannel, ServerError } from "../client.ts";
import { type BackoffOptions } from "../backoff.ts";
import { ReconnectingClient } from "../reconnect.ts";
import type { ClientArgs } from "./args.ts";
import { CHAT_HELP, isBroadcast, parseChatLine, typingTarget } from "./commands.ts";
import { Formatter } from "./format.ts";
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
  const view = new ChatView(term, fmt, where);
  const client = new ReconnectingClient({ dial: options.dial, ...options.backoff });
  client.on((e) => view.show(e));

  const welcome = await signIn(client, term, fmt, args);
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
      case "send":
      case "reply": {
        const to = action.kind === "send" ? action.to : view.peer;
        if (!to) {
          view.print(
            fmt.error(
              "Whom to? Start with @name (private) or @all (everyone), e.g. @all hello.",
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
    (sent) => view.print(fmt.sent(sent, text)),
    (err) => {
      // The server's refusal was shown with the other errors; undo the new conversation.
      if (err instanceof ServerError) {
        if (err.code === "no_such_user" && view.peer === to) view.setPeer(before);
        return;
      }
      view.print(fmt.error(`Not sent to ${to}: ${(err as Error).message}`));
    },
  );
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
