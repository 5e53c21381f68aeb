import { normalizeLang } from "../../accounts/names.ts";
import { isParleyError } from "../../errors.ts";
import { isCryptoError } from "../../crypto/mod.ts";
import type { ServerEvent } from "../../protocol/types.ts";
import { ServerError } from "../client.ts";
import type { ReconnectingClient } from "../reconnect.ts";
import type { ClientArgs } from "./args.ts";
import type { Formatter } from "./format.ts";
import type { Terminal } from "./terminal.ts";
import { explainCertificateError } from "./tls_problem.ts";

type Welcome = Extract<ServerEvent, { type: "welcome" }>;

/** The longest sign-in lock-out the client waits out by itself; a longer one ends the sign-in. */
const MAX_THROTTLE_WAIT_S = 30;

/**
 * Asks for name, password and language, then logs in. A wrong password is asked for again; a
 * name the server does not know is offered for registration. A new account's password is typed
 * twice at a terminal, however registration starts (--register, or answering y).
 * Resolves with the welcome, or undefined when the user gave up or the server is unreachable
 * (after saying why).
 */
export async function signIn(
  client: ReconnectingClient,
  term: Terminal,
  fmt: Formatter,
  args: ClientArgs,
  device?: string,
): Promise<Welcome | undefined> {
  const say = (line: string) => term.print(line);
  let name = args.name ?? await askName(term, say);
  if (name === undefined) return;
  let register = args.register;
  let password = register
    ? await newPassword(term, say, fmt, name)
    : await askPassword(term, `Password for ${name}: `);
  if (password === undefined) return;
  const lang = await askLang(term, say);
  if (lang === null) return;
  say(fmt.info(`connecting to ${args.host}:${args.port}…`));

  while (true) {
    try {
      return await client.connect(
        { name, password, lang: lang || undefined, device },
        { register },
      );
    } catch (err) {
      if (isCryptoError(err)) {
        // The server could not be trusted (a changed identity, a bad signature): the message
        // says what happened and how to proceed. Nothing was sent.
        say(fmt.error(err.message));
        return;
      }
      if (!(err instanceof ServerError)) {
        const certificate = explainCertificateError(reason(err));
        if (certificate) {
          say(fmt.error(`Cannot connect securely to ${args.host}:${args.port}: ${certificate}`));
          return;
        }
        say(fmt.error(`Cannot reach ${args.host}:${args.port}: ${reason(err)}.`));
        say(fmt.info("Is the server running? --host and --port choose another one."));
        return;
      }
      const message = err.message.slice(err.code.length + 2);
      let next: string | undefined;
      if (err.code === "bad_credentials") {
        say(fmt.error(`Wrong password for '${name}'.`));
        next = await askPassword(term, `Password for ${name}: `);
      } else if (err.code === "no_such_user") {
        say(fmt.error(`There is no account named '${name}'.`));
        const answer = await term.ask(`Register '${name}' as a new account? [y/N] `);
        if (answer === null) return;
        if (/^y(es)?$/i.test(answer.trim())) {
          next = await newPassword(term, say, fmt, name, password);
          register = true;
        } else {
          name = await askName(term, say);
          if (name === undefined) return;
          next = await askPassword(term, `Password for ${name}: `);
        }
      } else if (err.code === "name_taken") {
        say(fmt.error(`'${name}' is already registered; sign in with its password.`));
        register = false;
        next = await askPassword(term, `Password for ${name}: `);
      } else if (err.code === "bad_name") {
        say(fmt.error(message));
        name = await askName(term, say);
        if (name === undefined) return;
        next = password;
      } else if (err.code === "throttled" && (err.retryAfter ?? 0) <= MAX_THROTTLE_WAIT_S) {
        // A short lock-out after a few wrong passwords: wait it out and try what was typed last
        // (it may well be right), rather than leave.
        const wait = Math.max(1, Math.ceil(err.retryAfter ?? 1));
        say(fmt.error(`Too many failed sign-ins; trying again in ${wait} s…`));
        await new Promise((r) => setTimeout(r, wait * 1000));
        next = password;
      } else if (err.code === "bad_argument" && register) {
        // The only field the server can still refuse here is a too-short new password.
        say(fmt.error(message));
        next = await newPassword(term, say, fmt, name);
      } else {
        const retry = err.retryAfter ? ` (try again in ${Math.ceil(err.retryAfter)} s)` : "";
        say(fmt.error(`${message}${retry}`));
        return;
      }
      if (next === undefined) return;
      password = next;
    }
  }
}

async function askName(term: Terminal, say: (s: string) => void): Promise<string | undefined> {
  while (true) {
    const answer = await term.ask("Name: ");
    if (answer === null) return;
    const name = answer.trim();
    if (!name) continue;
    if (/\s/.test(name)) {
      say("! A name has no spaces.");
      continue;
    }
    return name;
  }
}

async function askPassword(term: Terminal, question: string): Promise<string | undefined> {
  while (true) {
    const answer = await term.ask(question, { secret: true });
    if (answer === null) return;
    if (answer) return answer;
  }
}

/** A password for a new account; at a terminal it is typed twice, since nobody sees it. */
async function newPassword(
  term: Terminal,
  say: (s: string) => void,
  fmt: Formatter,
  name: string,
  typed?: string,
): Promise<string | undefined> {
  while (true) {
    const password = typed ?? await askPassword(term, `Choose a password for ${name}: `);
    typed = undefined;
    if (password === undefined || !term.interactive) return password;
    const again = await term.ask("Type it again: ", { secret: true });
    if (again === null) return;
    if (again === password) return password;
    say(fmt.error("The two passwords differ; once more."));
  }
}

/** A language code, or "" to keep the current one; null when input ended. */
async function askLang(term: Terminal, say: (s: string) => void): Promise<string | null> {
  while (true) {
    const answer = await term.ask("Language (en, es, fr, ...; Enter keeps your current one): ");
    if (answer === null || !answer.trim()) return answer === null ? null : "";
    try {
      return normalizeLang(answer);
    } catch (err) {
      if (!isParleyError(err)) throw err;
      say(`! ${err.message}`);
    }
  }
}

function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*\(os error \d+\)$/, "");
}
