/**
 * The terminal client: `deno task client [--host H] [--port P]`. Signs in over TCP in JSON
 * mode, shows messages and presence, and reconnects by itself. `--help` says the rest.
 */
import { TcpChannel } from "./lib/client/tcp_channel.ts";
import { KnownServers, serverName } from "./lib/crypto/known_servers.ts";
import { CLIENT_HELP, parseClientArgs, UsageError } from "./lib/client/terminal/args.ts";
import { runChat } from "./lib/client/terminal/chat.ts";
import { defaultDevicePath, loadDeviceId } from "./lib/client/terminal/device.ts";
import { LineTerminal } from "./lib/client/terminal/line_terminal.ts";
import type { Terminal } from "./lib/client/terminal/terminal.ts";
import { TtyEditor } from "./lib/client/terminal/tty_editor.ts";

async function main(): Promise<number> {
  let args;
  try {
    args = parseClientArgs(Deno.args, (name) => Deno.env.get(name));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`parley client: ${err.message}`);
    return 2;
  }
  if (args === "help") {
    console.log(CLIENT_HELP);
    return 0;
  }
  const stdinTty = Deno.stdin.isTerminal();
  const stdoutTty = Deno.stdout.isTerminal();
  const terminal: Terminal = stdinTty && stdoutTty
    ? new TtyEditor()
    : new LineTerminal({ interactive: stdinTty });
  const color = stdoutTty && !Deno.env.get("NO_COLOR");
  const { host, port } = args;
  // Trust on first use: pin the server's identity, refuse a changed one (docs/security.md §8).
  const known = new KnownServers(args.knownServers);
  const verifyIdentity = known.verifier(serverName(host, port), (fingerprint, { created }) => {
    if (created) {
      terminal.print(
        `* Created ${known.path}, where this client keeps the identity of each server it ` +
          "connects to (docs/security.md §8). Remove a line to forget a server.",
      );
    }
    terminal.print(
      `* New server ${serverName(host, port)}: pinned its identity ${fingerprint} in ` +
        `${known.path}. Compare it with the fingerprint the server printed at start-up.`,
    );
  });
  let tls: { caCerts?: string[] } | undefined;
  if (args.tls) {
    try {
      tls = { caCerts: args.caCert ? [await Deno.readTextFile(args.caCert)] : undefined };
    } catch (err) {
      console.error(
        `parley client: cannot read --ca-cert ${args.caCert}: ${(err as Error).message}`,
      );
      terminal.close();
      return 2;
    }
  }
  // One id per install, kept: the server keeps this install's cursor, so what it missed while
  // closed comes once at the next start. Without a place to keep it, the client goes without.
  let device: string | undefined;
  const devicePath = args.deviceFile ?? defaultDevicePath();
  if (devicePath) {
    try {
      const loaded = await loadDeviceId(devicePath);
      device = loaded.id;
      if (loaded.created) {
        terminal.print(
          `* This install's device id is now kept in ${loaded.path}: it lets each server show ` +
            "you once what you missed here. Remove the file to start afresh.",
        );
      }
    } catch (err) {
      terminal.print(
        `! Cannot keep a device id in ${devicePath} (${(err as Error).message}); what you ` +
          "missed is shown as stored messages instead.",
      );
    }
  }
  try {
    return await runChat({
      args,
      terminal,
      color,
      device,
      caCerts: tls?.caCerts,
      dial: () => TcpChannel.connect({ hostname: host, port, verifyIdentity, tls }),
    });
  } finally {
    terminal.close();
  }
}

// Exit explicitly: a read from stdin may still be waiting.
Deno.exit(await main());
