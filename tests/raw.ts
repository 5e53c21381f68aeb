/**
 * Raw-socket helpers for the bad-input tests: JSON mode spoken by hand over a TextSocket, so a
 * test can send bytes no well-behaved client would and read every reply in order.
 */
import assert from "node:assert/strict";
import { PASSWORD, type SecureSocket, type TestServer, type TextSocket } from "./helpers.ts";

/** A socket the helpers below read frames from: text mode, or JSON mode inside the session. */
type Socket = TextSocket | SecureSocket;

/** A decoded server frame. */
export type Frame = { type: string; [field: string]: unknown };

/** The next line the server sent, decoded as a JSON frame (no line is skipped). */
export async function nextFrame(t: Socket, timeoutMs = 5000): Promise<Frame> {
  const line = await t.waitFor(/^/, timeoutMs);
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`not a JSON frame: ${line.slice(0, 200)}`);
  }
}

/** Asserts that the next frame has (at least) the given fields; returns it. */
export async function expectFrame(t: Socket, fields: Partial<Frame>): Promise<Frame> {
  const frame = await nextFrame(t);
  const picked = Object.fromEntries(Object.keys(fields).map((k) => [k, frame[k]]));
  assert.deepEqual(picked, fields, `got ${JSON.stringify(frame).slice(0, 300)}`);
  return frame;
}

/** Asserts that the next frame is an error with `code` and a readable message; returns it. */
export async function expectError(
  t: Socket,
  code: string,
  extra: Partial<Frame> = {},
): Promise<Frame & { message: string }> {
  const frame = await expectFrame(t, { type: "error", code, ...extra });
  assert.equal(typeof frame.message, "string");
  assert.ok((frame.message as string).length > 10, `a hint, not just a code: ${frame.message}`);
  return frame as Frame & { message: string };
}

/**
 * Opens a raw socket in JSON mode (its first byte is `{`: the `client_hello`), runs the
 * handshake, and reads the hello; what the test writes then is sealed, what it reads opened.
 */
export async function rawJson(server: TestServer): Promise<SecureSocket> {
  const t = await server.secure();
  await t.write(JSON.stringify({ type: "ping", cid: "open" }));
  await expectFrame(t, { type: "hello" });
  await expectFrame(t, { type: "pong", cid: "open" });
  return t;
}

/** A raw JSON-mode socket signed in as a new user `name`. */
export async function rawJsonUser(server: TestServer, name: string): Promise<SecureSocket> {
  const t = await rawJson(server);
  await t.write(JSON.stringify({ type: "register", name, password: PASSWORD, cid: "reg" }));
  await expectFrame(t, { type: "welcome", user: name, cid: "reg" });
  return t;
}

/** The text-mode password (text commands split on spaces). */
export const TEXT_PASSWORD = PASSWORD.replace(" ", "-");

/** A raw text-mode socket signed in as a new user `name`. */
export async function textUser(
  server: TestServer,
  name: string,
  lang?: string,
): Promise<TextSocket> {
  const t = await server.text();
  await t.waitFor("Name:");
  await t.write(`/register ${name} ${TEXT_PASSWORD}${lang ? ` ${lang}` : ""}`);
  await t.waitFor(`Registered. Welcome, ${name}!`);
  await t.waitFor("Type @<name> <text>");
  // The welcome's last line: whether (and into what) messages are translated.
  await t.waitFor(/^\* (Translation is off|Messages in other languages)/);
  return t;
}

/** Writes `bytes` in pieces of `size` bytes, pausing between writes so they arrive apart. */
export async function writeInPieces(t: Socket, bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) {
    await t.write(bytes.subarray(i, i + size));
    await new Promise((r) => setTimeout(r, 1));
  }
}

export const utf8 = new TextEncoder();

/** Concatenates strings (as UTF-8) and byte arrays into one chunk, to send in one write. */
export function joinBytes(...parts: (string | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) => typeof p === "string" ? utf8.encode(p) : p);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A JSON frame padded with spaces to exactly `size` bytes (not counting the newline). */
export function pingOfSize(size: number, cid: string): string {
  const base = JSON.stringify({ type: "ping", cid });
  return base.slice(0, -1) + " ".repeat(size - base.length) + "}";
}
