/**
 * Keeps docs/protocol.md honest: every command, event and error code is documented, the tables
 * of costs and limits match the code, and the example sessions replay line by line against a
 * real server.
 */
import assert from "node:assert/strict";
import { RESERVED_NAMES } from "../lib/accounts/names.ts";
import { ERROR_CODES } from "../lib/errors.ts";
import { DEFAULT_MAX_LINE_BYTES } from "../lib/protocol/lines.ts";
import type { ServerEventType } from "../lib/protocol/types.ts";
import { COMMANDS } from "../lib/router/commands.ts";
import { DEFAULT_LIMITS } from "../lib/router/options.ts";
import { type SecureSocket, startServer, type TestServer, type TextSocket } from "./helpers.ts";
import { startWebServer, type WebServer } from "./web_helpers.ts";

const DOC = await Deno.readTextFile(new URL("../docs/protocol.md", import.meta.url));

/**
 * Every server event type. A `Record` over the union, so adding an event type to
 * lib/protocol/types.ts without listing it here (and documenting it) fails the type check.
 */
const EVENT_TYPES: Record<ServerEventType, true> = {
  hello: true,
  welcome: true,
  message: true,
  presence: true,
  sent: true,
  who: true,
  users: true,
  lang: true,
  acked: true,
  synced: true,
  history: true,
  read: true,
  receipt: true,
  receipts: true,
  conversations: true,
  pong: true,
  heartbeat: true,
  help: true,
  prompt: true,
  info: true,
  error: true,
  bye: true,
  joined: true,
  left: true,
  room: true,
  invite: true,
  invited: true,
  rooms: true,
  members: true,
  calls: true,
  call: true,
  call_offer: true,
  call_answer: true,
  call_ice: true,
  file_token: true,
};

/** The body of the `## title` section, up to the next `## ` heading. */
function section(title: string): string {
  const lines = DOC.split("\n");
  const start = lines.indexOf(`## ${title}`);
  assert.notEqual(start, -1, `docs/protocol.md has no section '## ${title}'`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith("## "));
  return (end === -1 ? rest : rest.slice(0, end)).join("\n");
}

/** Rows of the Markdown tables in `text`, as trimmed cells (header and rule rows included). */
function tableRows(text: string): string[][] {
  return text.split("\n")
    .filter((l) => l.startsWith("|") && l.endsWith("|"))
    .map((l) => l.slice(1, -1).split("|").map((c) => c.trim()));
}

Deno.test("docs/protocol.md documents every command of the command table", () => {
  const frames = section("Client frames (JSON mode)");
  for (const type of Object.keys(COMMANDS)) {
    assert.ok(frames.includes(`### \`${type}\``), `no '### \`${type}\`' under Client frames`);
  }
});

Deno.test("docs/protocol.md documents every server event", () => {
  const events = section("Server events (JSON mode)");
  for (const type of Object.keys(EVENT_TYPES)) {
    assert.ok(events.includes(`### \`${type}\``), `no '### \`${type}\`' under Server events`);
  }
});

Deno.test("docs/protocol.md lists exactly the error codes of lib/errors.ts", () => {
  const documented = tableRows(section("Error codes"))
    .map(([code]) => /^`([a-z0-9_]+)`$/.exec(code)?.[1])
    .filter((code): code is string => code !== undefined);
  assert.deepEqual(documented.toSorted(), Object.keys(ERROR_CODES).toSorted());
});

Deno.test("docs/protocol.md gives each command's cost and sign-in state as the table does", () => {
  const allowed = { in: "after sign-in", out: "before sign-in", any: "any time" };
  const rows = new Map(
    tableRows(section("Limits"))
      .filter(([frame, cost]) => /^`\w+`$/.test(frame) && /^[\d.]+$/.test(cost ?? ""))
      .map(([frame, cost, when]) => [frame.slice(1, -1), { cost: Number(cost), when }]),
  );
  for (const [type, spec] of Object.entries(COMMANDS)) {
    assert.deepEqual(rows.get(type), { cost: spec.cost, when: allowed[spec.auth] }, type);
  }
  assert.equal(rows.size, Object.keys(COMMANDS).length, "the cost table lists unknown frames");
});

Deno.test("docs/protocol.md states the default limits, line length and reserved names", () => {
  const rows = tableRows(section("Limits"));
  for (const [key, value] of Object.entries(DEFAULT_LIMITS)) {
    const row = rows.find((r) => r.includes(`\`${key}\``));
    assert.ok(row, `no row for \`${key}\` in the limits table`);
    const expected = key.endsWith("Ms") ? `${value / 1000} s` : String(value);
    assert.ok(row[1].startsWith(`${expected} `) || row[1] === expected, `${key}: ${row[1]}`);
  }
  const line = rows.find((r) => r.includes("`maxLineBytes`"));
  assert.equal(line?.[1], `${DEFAULT_MAX_LINE_BYTES} bytes`);
  const accounts = section("Accounts");
  for (const name of RESERVED_NAMES) {
    assert.ok(accounts.includes(`\`${name}\``), `reserved name '${name}' is not listed`);
  }
});

Deno.test("the JSON example session in docs/protocol.md replays against a server", async () => {
  await replay(example("json"));
});

Deno.test("the text example session in docs/protocol.md replays against a server", async () => {
  // Its lines come fast, one after another: the read markers of what dave and carol were shown
  // move at their /quit (as the example shows), not at a moment that would race with the rest.
  await replay(example("text"), { limits: { textReadDelayMs: 60_000 } });
});

Deno.test("the rooms example session in docs/protocol.md replays against a server", async () => {
  await replay(example("rooms"));
});

Deno.test("the devices and sync example in docs/protocol.md replays against a server", async () => {
  await replay(example("sync"));
});

Deno.test("the text-mode catch-up example in docs/protocol.md replays against a server", async () => {
  await replay(example("text-catch-up"));
});

Deno.test("the calls example in docs/protocol.md replays against a server", async () => {
  await replay(example("calls"));
});

Deno.test("the files example in docs/protocol.md replays against a server", async () => {
  // bob's read marker moves at his /quit (after alice left), not at a moment that would race.
  await replay(example("files"), { limits: { textReadDelayMs: 60_000 } }, { web: true });
});

/**
 * One line of an example: `alice> ...` was sent by connection alice, `alice< ...` received;
 * `alice$> METHOD PATH [TYPE: BODY]` is an HTTP request of alice's and `alice$< STATUS BODY` its
 * answer (the files example).
 */
interface Step {
  conn: string;
  sent: boolean;
  http: boolean;
  line: string;
  /** For messages: where in the doc. */
  at: string;
}

/** The transcript in the code block after `<!-- example: kind -->`. */
function example(
  kind: "json" | "text" | "rooms" | "sync" | "text-catch-up" | "calls" | "files",
): Step[] {
  const marker = DOC.indexOf(`<!-- example: ${kind} -->`);
  assert.notEqual(marker, -1, `no '<!-- example: ${kind} -->' in docs/protocol.md`);
  const fence = DOC.indexOf("```", marker);
  const start = DOC.indexOf("\n", fence) + 1;
  const end = DOC.indexOf("\n```", start);
  const firstLine = DOC.slice(0, start).split("\n").length;
  return DOC.slice(start, end).split("\n").map((text, i) => {
    const at = `docs/protocol.md:${firstLine + i}: ${text.slice(0, 120)}`;
    const m = /^([\w-]+)(\$?)([<>]) ?(.*)$/.exec(text);
    assert.ok(m, `not a transcript line (name> or name<): ${at}`);
    return { conn: m[1], sent: m[3] === ">", http: m[2] === "$", line: m[4], at };
  });
}

/** A connection of the example: JSON mode when the first line it sends starts with `{`. */
interface Conn {
  /** JSON mode runs the handshake first; the example shows the frames inside the session. */
  socket: TextSocket | SecureSocket;
  json: boolean;
  /** True once a JSON frame arrived; before it, non-JSON lines (a text greeting) are skipped. */
  framed: boolean;
}

/**
 * Plays an example against a fresh server: lines marked `>` are sent, each line marked `<` must
 * be the next one its connection receives. Lines are handled in the order of the doc, so a reply
 * is awaited before anything shown after it is sent. Every connection must end closed, with
 * nothing received that the example does not show.
 */
async function replay(
  steps: Step[],
  options: Parameters<typeof startServer>[0] = {},
  { web = false } = {},
): Promise<void> {
  const server = web ? await startWebServer(options) : await startServer(options);
  try {
    const conns = new Map<string, Conn>();
    /** Server ids in the doc mapped to the ids this run produced. */
    const ids = new Map<string, string>();
    /** Each connection's last HTTP answer, to compare with its `$<` line. */
    const answers = new Map<string, { status: number; body: string }>();
    for (const step of steps) {
      if (step.http) {
        await httpStep(server as WebServer, step, ids, answers);
        continue;
      }
      const conn = conns.get(step.conn) ?? await open(server, steps, step.conn);
      conns.set(step.conn, conn);
      if (step.sent) {
        let line = step.line;
        for (const [docId, realId] of ids) line = line.replaceAll(docId, realId);
        await conn.socket.write(line);
      } else if (conn.json) {
        compareFrame(await nextFrame(conn, step), JSON.parse(step.line), ids, step.at);
      } else {
        const line = await conn.socket.waitFor(/^/).catch((err) => fail(step, err));
        assert.equal(normalizeText(line), normalizeText(step.line), step.at);
      }
    }
    for (const [name, conn] of conns) {
      await conn.socket.waitClosed().catch(() => {
        throw new Error(`connection '${name}' is still open: the example must end with bye`);
      });
      const extra = conn.socket.lines.filter((l) => !conn.json || conn.framed || isFrame(l));
      assert.deepEqual(extra, [], `connection '${name}' received lines the example does not show`);
    }
  } finally {
    await server.close();
  }
}

/**
 * An HTTP line of an example: `METHOD PATH [TYPE: BODY]` is sent (the doc's ids and tokens
 * replaced by this run's); `STATUS BODY` must be its answer (a JSON body compared as a frame).
 */
async function httpStep(
  server: WebServer,
  step: Step,
  ids: Map<string, string>,
  answers: Map<string, { status: number; body: string }>,
): Promise<void> {
  if (step.sent) {
    let line = step.line;
    for (const [docId, realId] of ids) line = line.replaceAll(docId, realId);
    const m = /^(GET|POST) (\S+)(?: ([\w.+-]+\/[\w.+-]+): (.*))?$/.exec(line);
    assert.ok(m, `not an HTTP request line: ${step.at}`);
    const [, method, path, type, body] = m;
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: type ? { "content-type": type } : {},
      body: method === "POST" ? body ?? "" : undefined,
    });
    answers.set(step.conn, { status: res.status, body: await res.text() });
    return;
  }
  const answer = answers.get(step.conn);
  assert.ok(answer, `no request before ${step.at}`);
  const m = /^(\d{3}) (.*)$/.exec(step.line);
  assert.ok(m, `not an HTTP answer line: ${step.at}`);
  assert.equal(answer.status, Number(m[1]), `${step.at}\n  received ${answer.body}`);
  if (m[2].startsWith("{")) compareFrame(JSON.parse(answer.body), JSON.parse(m[2]), ids, step.at);
  else assert.equal(answer.body, m[2], step.at);
}

async function open(server: TestServer, steps: Step[], name: string): Promise<Conn> {
  const first = steps.find((s) => s.conn === name && s.sent && !s.http);
  const json = !!first?.line.startsWith("{");
  return { socket: json ? await server.secure() : await server.text(), json, framed: false };
}

/** The next JSON frame of a JSON-mode connection, skipping a text greeting before the first. */
async function nextFrame(conn: Conn, step: Step): Promise<Record<string, unknown>> {
  while (true) {
    const line = await conn.socket.waitFor(/^/).catch((err) => fail(step, err));
    if (isFrame(line)) {
      conn.framed = true;
      return JSON.parse(line);
    }
    assert.ok(!conn.framed, `not a JSON frame after the first one: ${line}\n  expected ${step.at}`);
  }
}

function isFrame(line: string): boolean {
  try {
    const value = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * Checks a received frame against the doc's: the same type and fields, the same values except
 * those that differ from run to run (ids, timestamps, retry hints, the server version). An id
 * seen before in the doc must come back as the same id seen before in this run.
 */
function compareFrame(
  actual: Record<string, unknown>,
  expected: Record<string, unknown>,
  ids: Map<string, string>,
  at: string,
): void {
  const where = `${at}\n  received ${JSON.stringify(actual).slice(0, 300)}`;
  assert.equal(actual.type, expected.type, where);
  assert.deepEqual(Object.keys(actual).toSorted(), Object.keys(expected).toSorted(), where);
  for (const [key, want] of Object.entries(expected)) {
    const got = actual[key];
    if (key === "id") {
      assert.match(String(got), /^[0-9A-HJKMNP-TV-Z]{16}$/, where);
      const known = ids.get(String(want));
      if (known === undefined) ids.set(String(want), String(got));
      else assert.equal(got, known, `the same message keeps its id: ${where}`);
    } else if (key === "call" && typeof want === "string") {
      // A call's id is new each run, like a message's; later frames of the doc send this run's.
      assert.match(String(got), /^call-[0-9a-v]{26}$/, where);
      const known = ids.get(want);
      if (known === undefined) ids.set(want, String(got));
      else assert.equal(got, known, `the same call keeps its id: ${where}`);
    } else if (key === "call" && typeof want === "object") {
      // A call's entry: how long the call lasted differs from run to run.
      compareFrame(got as Record<string, unknown>, want as Record<string, unknown>, ids, at);
    } else if (key === "file" && typeof want === "object" && want !== null) {
      compareFrame(got as Record<string, unknown>, want as Record<string, unknown>, ids, at);
    } else if (key === "url") {
      // A one-time URL: this run's host and token; a later line that uses the token gets it.
      const pattern = /^http:\/\/127\.0\.0\.1:\d+\/api\/files(?:\/(\w+))?\?token=([\w-]+)$/;
      const [real, docUrl] = [pattern.exec(String(got)), pattern.exec(String(want))];
      assert.ok(real && docUrl, `field 'url': ${where}`);
      assert.equal(real[1], docUrl[1] && (ids.get(docUrl[1]) ?? docUrl[1]), where);
      ids.set(docUrl[2], real[2]);
      ids.set(docUrl[0].replace(/\/api\/files.*$/, ""), real[0].replace(/\/api\/files.*$/, ""));
    } else if (
      key === "ts" || key === "lastTs" || key === "retryAfter" || key === "duration" ||
      key === "expiresAt"
    ) {
      assert.equal(typeof got, "number", where);
    } else if (key === "text" && typeof expected.call === "object") {
      const length = /\d+:\d\d/g;
      assert.equal(
        String(got).replace(length, "M:SS"),
        String(want).replace(length, "M:SS"),
        where,
      );
    } else if (Array.isArray(want) && want.some((w) => typeof w === "object" && w !== null)) {
      // A list of messages (history) or conversations: each compared like a frame of its own.
      assert.ok(Array.isArray(got) && got.length === want.length, `field '${key}': ${where}`);
      want.forEach((w, i) => compareFrame(got[i], w, ids, at));
    } else if (key === "resume") {
      // A resume token is new each run: a later frame of the doc that sends it gets this run's.
      const grant = got as { token: string; expiresAt: number };
      assert.match(grant?.token, /^[A-Za-z0-9_-]{43}$/, where);
      assert.equal(typeof grant.expiresAt, "number", where);
      const docToken = (want as { token: string }).token;
      const known = ids.get(docToken);
      if (known === undefined) ids.set(docToken, grant.token);
      else assert.equal(grant.token, known, `a resume keeps its token: ${where}`);
    } else if (key === "version") {
      assert.equal(typeof got, "string", where);
    } else {
      assert.deepEqual(got, want, `field '${key}': ${where}`);
    }
  }
}

/**
 * Text lines without what differs from run to run: clock times, the server version, and a file
 * link's host, id and one-time token.
 */
function normalizeText(line: string): string {
  return line
    .replace(/http:\/\/127\.0\.0\.1:\d+\/api\/files\/\w+\?token=[\w-]+/g, "LINK")
    .replace(/\[(?:[A-Z][a-z]{2} \d{1,2} )?\d{2}:\d{2}\]/g, "[HH:MM]")
    .replace(/ of (?:[A-Z][a-z]{2} \d{1,2} )?\d{2}:\d{2}$/, " of HH:MM")
    .replace(/Parley \d+\.\d+\.\d+\S*/g, "Parley X.Y.Z");
}

function fail(step: Step, err: unknown): never {
  throw new Error(`expected ${step.at}\n  ${(err as Error).message}`);
}
