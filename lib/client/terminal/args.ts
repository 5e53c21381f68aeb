import { parseArgs } from "node:util";
import { DEFAULT_TCP_PORT } from "../../protocol/ports.ts";

/** What the terminal client was told on the command line and in the environment. */
export interface ClientArgs {
  host: string;
  port: number;
  /** Sign in as this name instead of asking. */
  name?: string;
  /** Create the account without asking first. */
  register: boolean;
  /** The known-servers file (pinned fingerprints); undefined: the default in the config dir. */
  knownServers?: string;
  /** Connect over TLS (a server started with --tls-cert/--tls-key). */
  tls: boolean;
  /** A PEM file of certificates to trust instead of the system's (a self-signed server). */
  caCert?: string;
  /** The file that keeps this install's device id; undefined: the default in the config dir. */
  deviceFile?: string;
}

/** A command line the client cannot use; the message says what is wrong. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** What `deno task client --help` prints. */
export const CLIENT_HELP = `Parley terminal client: chat with a Parley server over TCP.

Usage: deno task client [options]

Options (a flag wins over its environment variable):
  --host <address>  server address          env PARLEY_HOST, default 127.0.0.1
  --port <number>   server TCP port         env PARLEY_TCP_PORT, default ${DEFAULT_TCP_PORT}
  --name <name>     sign in as <name> instead of being asked
  --register        create the account without asking (handy in scripts); at a
                    terminal the new password is asked for twice
  --tls             connect over TLS (the server was started with --tls-cert)
  --ca-cert <file>  trust the certificate(s) in this PEM file (implies --tls), for a
                    server with a self-signed certificate
                                            env PARLEY_CA_CERT
  --known-servers <file>
                    where pinned server fingerprints are kept
                                            env PARLEY_KNOWN_SERVERS,
                                            default ~/.config/parley/known_servers
  --device-file <file>
                    where this install's device id is kept (made on first use), so
                    the server knows what this client has seen
                                            env PARLEY_DEVICE_FILE,
                                            default ~/.config/parley/device
  -h, --help        show this help

Signing in: the client asks for your name, your password (not shown while you type) and
your language (Enter keeps your current one; new accounts start with en). A wrong password is
asked for again (after several, the server locks the name for a while; the client waits out a
lock-out of up to 30 s by itself). When no account has that name, it offers to create one:
answer y (at a terminal it then asks for the password once more). Input may also be piped, one
answer per line, then one chat line per line.

In the chat (the prompt shows the current conversation, #room or @name):
  <text>            to the current conversation
  @<name> <text>    private message to <name>; @<name> alone makes it current
  #<room> <text>    message to a room you are in; #<room> alone makes it current
  @all <text>       message to everyone online (not kept, no history)
  /join #<room> [invite]
                    join a room, creating it when nobody has that name (invite:
                    invite-only); it becomes the current conversation
  /create #<room> [invite]
                    the same, but only a new room (a taken name is an error)
  /leave [#<room>]  leave a room (default: the current one)
  /rooms            the rooms you can join and yours, with members, topics, unread
  /topic [#<room>] <text>
                    set a room's topic
  /invite @<name> [#<room>]  /kick @<name> [#<room>]  /owner @<name> [#<room>]
                    invite someone, remove them (owner), hand the room over (owner)
  /members [#<room>] who is in a room
  /history [@<name>|#<room>] [N]
                    the last N (default 20) messages of a conversation; again for
                    the page before
  /unread           unread messages per conversation
  /receipts on|off  send read receipts or not
  /who              who is online
  /lang <code>      set your language (en, es, fr, pt-BR, ...)
  /original [N]     show what the sender wrote, for the last translated message (or the
                    Nth most recent); /orig for short
  /originals on|off show the original under every translated message (default off)
  /help             list these commands
  /quit             leave (Ctrl-D too)

Rooms are named like users (#dev and #Dev are one room). What you missed while away (from
this install: its device id is kept in --device-file) is shown once after you sign in,
marked (missed), followed by what is still unread elsewhere. Messages printed here count
as read on all your devices; the senders of private messages see when you read them, unless
you say /receipts off. Receipts of your own last private message are shown as
"* bob read your message of 14:02".

Messages written in another language arrive translated into yours (when the server has a
translator), marked with the language they were written in, like [en];
[not translated: <reason>] marks one that arrives as written.

If the connection drops, the client says so, reconnects by itself (waiting longer after each
failed try, up to 30 s) and sends again whatever the server had not confirmed; the server
drops repeats, so nothing arrives twice.

The connection is encrypted. On the first connection to a server the client pins the server's
identity fingerprint (trust on first use) and prints it: compare it with the one the server
printed at start-up. If the server later presents another identity, the client refuses to
connect and says how to proceed. Colours are off when NO_COLOR is set or when the
output is not a terminal.`;

/**
 * Reads flags, then PARLEY_HOST / PARLEY_TCP_PORT, then defaults.
 * @throws {UsageError} for unknown flags or a bad port, naming the option.
 */
export function parseClientArgs(
  args: string[],
  env: (name: string) => string | undefined,
): ClientArgs | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        host: { type: "string" },
        port: { type: "string" },
        name: { type: "string" },
        register: { type: "boolean", default: false },
        "known-servers": { type: "string" },
        tls: { type: "boolean", default: false },
        "ca-cert": { type: "string" },
        "device-file": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. Try --help.`);
  }
  if (values.help) return "help";
  const host = values.host ?? env("PARLEY_HOST") ?? "127.0.0.1";
  if (!host) throw new UsageError("--host must not be empty");
  const portSource = values.port === undefined && env("PARLEY_TCP_PORT") !== undefined
    ? "PARLEY_TCP_PORT"
    : "--port";
  const portText = values.port ?? env("PARLEY_TCP_PORT") ?? String(DEFAULT_TCP_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new UsageError(
      `${portSource} must be a port number from 1 to 65535: current value is '${portText}'`,
    );
  }
  const name = values.name?.trim() || undefined;
  const knownServers = values["known-servers"] ?? env("PARLEY_KNOWN_SERVERS") ?? undefined;
  if (knownServers === "") throw new UsageError("--known-servers must not be empty");
  const caCert = values["ca-cert"] ?? env("PARLEY_CA_CERT") ?? undefined;
  if (caCert === "") throw new UsageError("--ca-cert must not be empty");
  const deviceFile = values["device-file"] ?? env("PARLEY_DEVICE_FILE") ?? undefined;
  if (deviceFile === "") throw new UsageError("--device-file must not be empty");
  return {
    host,
    port,
    name,
    register: values.register,
    knownServers,
    tls: values.tls || caCert !== undefined,
    caCert,
    deviceFile,
  };
}
