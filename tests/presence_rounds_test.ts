/**
 * Presence in rounds: many users coming online at once (a restart) reach each reader as one
 * `presence` frame listing them, not one frame each; every client shows all of them.
 */
import assert from "node:assert/strict";
import { welcomeEvent } from "./fixtures.ts";
import { sleep, until, within, withServer } from "./helpers.ts";
import { ChatState } from "../islands/chat_state.ts";
import { Formatter } from "../lib/client/terminal/format.ts";
import { ChatView } from "../lib/client/terminal/view.ts";
import { encodeTextEvent } from "../lib/protocol/text.ts";
import type { ServerEvent } from "../lib/protocol/types.ts";
import type { ClientSession } from "../lib/router/client_session.ts";
import { PresenceBatch } from "../lib/router/presence_batch.ts";
import { RecordingTerminal } from "./terminal_process.ts";

/** The users a presence event says are in `state`. */
function usersIn(e: Extract<ServerEvent, { type: "presence" }>, state: string): string[] {
  if (e.state !== state) return [];
  return e.users ?? [e.user];
}

Deno.test("users signing in together reach a reader in fewer presence frames than users", () =>
  withServer(async (server) => {
    const watcher = await server.user("watcher");
    const names = Array.from({ length: 16 }, (_, i) => `storm${i}`);
    await Promise.all(names.map((n) => server.user(n)));
    const seen = new Set<string>();
    let frames = 0;
    while (seen.size < names.length) {
      const e = await watcher.nextOf("presence");
      frames++;
      for (const u of usersIn(e, "online")) seen.add(u);
    }
    assert.deepEqual([...seen].sort(), [...names].sort());
    // One frame each before; now one per round, and they all signed in within a few rounds.
    assert.ok(frames < names.length, `${frames} presence frames for ${names.length} sign-ins`);
    assert.ok(!watcher.buffered.some((e) => e.type === "presence"), "nobody told twice");
  }));

Deno.test("a user who writes as soon as they sign in is shown online before the message", () =>
  withServer(async (server) => {
    const watcher = await server.user("watcher");
    const bob = await server.user("bob");
    await bob.send("watcher", "hello at once");
    const message = await watcher.nextOf("message");
    assert.equal(message.text, "hello at once");
    // Taken by `nextOf("message")` only if it came first: the presence is already here.
    const presence = watcher.buffered.find((e) => e.type === "presence");
    assert.deepEqual(presence, { type: "presence", user: "bob", state: "online" });
  }));

/** A reader as the batch sees it: its user, how far it was told, what it was sent. */
function reader(key: string, seen = 0) {
  const got: ServerEvent[] = [];
  const session = {
    user: { key, name: key, lang: "en" },
    presenceSeen: seen,
    emit: (e: ServerEvent) => got.push(e),
  };
  return { session: session as unknown as ClientSession, got };
}

Deno.test("PresenceBatch: a round is one frame per state, without the reader's own change", () => {
  const early = reader("early");
  const sent: Array<{ event: ServerEvent; to: string[] }> = [];
  const online = new Map<string, Set<ClientSession>>([["early", new Set([early.session])]]);
  const batch = new PresenceBatch({
    online,
    fanout(event, targets) {
      const to = [...targets].map((s) => s.user!.key);
      sent.push({ event, to });
      return to.length;
    },
  });
  for (const n of ["a", "b", "c"]) batch.add(n, n, "online");
  // `late` came online after a and b (its welcome listed them) and before c.
  const late = reader("late");
  online.set("late", new Set([late.session]));
  late.session.presenceSeen = 2;
  batch.add("late", "late", "online");
  batch.add("gone", "gone", "online");
  batch.add("gone", "gone", "offline");
  batch.flush();
  assert.deepEqual(sent, [
    {
      event: { type: "presence", state: "online", users: ["a", "b", "c", "late"] },
      to: ["early"],
    },
    { event: { type: "presence", user: "gone", state: "offline" }, to: ["early"] },
    { event: { type: "presence", user: "c", state: "online" }, to: ["late"] },
    { event: { type: "presence", user: "gone", state: "offline" }, to: ["late"] },
  ]);
  sent.length = 0;
  batch.flush();
  assert.equal(sent.length, 0, "a round tells each change once");

  // Before a frame the reader waits on, its part goes first, and the round skips it then.
  batch.add("d", "d", "online");
  batch.catchUp(early.session);
  assert.deepEqual(early.got, [{ type: "presence", user: "d", state: "online" }]);
  batch.flush();
  assert.deepEqual(sent.map((s) => s.to), [["late"]]);
  batch.stop();
});

Deno.test("text mode shows a few users a line each, and many as one line", () => {
  assert.equal(
    encodeTextEvent({ type: "presence", state: "online", users: ["ann", "ben"] }, "me"),
    "* ann is online\n* ben is online",
  );
  const many = Array.from({ length: 40 }, (_, i) => `u${i}`);
  assert.equal(
    encodeTextEvent({ type: "presence", state: "offline", users: many }, "me"),
    "* 40 people went offline: u0, u1, u2, u3, u4 and 35 more",
  );
});

Deno.test("the browser shows every user of a presence round online", () => {
  const s = new ChatState();
  s.apply(welcomeEvent({ users: [{ name: "alice", state: "online", lang: "en" }] }));
  const many = Array.from({ length: 30 }, (_, i) => `u${i}`);
  s.apply({ type: "presence", state: "online", users: many });
  for (const u of many) assert.equal(s.people.value.get(u)?.state, "online", u);
  s.apply({ type: "presence", state: "offline", users: ["u3", "u7"] });
  assert.equal(s.people.value.get("u3")?.state, "offline");
  assert.equal(s.people.value.get("u4")?.state, "online");
});

Deno.test("the terminal client shows a presence round as lines, or one line for many", () => {
  const term = new RecordingTerminal();
  const view = new ChatView(term, new Formatter({ color: false, now: () => 0 }), "here");
  view.show(welcomeEvent({ users: [{ name: "alice", state: "online", lang: "en" }] }));
  term.take();
  view.show({ type: "presence", state: "online", users: ["ann", "ben"] });
  assert.deepEqual(term.take(), ["* ann is online", "* ben is online"]);
  const many = Array.from({ length: 12 }, (_, i) => `u${i}`);
  view.show({ type: "presence", state: "online", users: ["ann", ...many] });
  // ann was online already: only the twelve are news.
  assert.deepEqual(term.take(), ["* 12 people came online: u0, u1, u2, u3, u4 and 7 more"]);
  view.show({ type: "presence", state: "offline", users: ["ann", "u0"] });
  assert.deepEqual(term.take(), ["* ann went offline", "* u0 went offline"]);
});

Deno.test("a user who comes online while a reader's welcome is being made is shown to that reader", () =>
  withServer(async (server) => {
    const first = await server.user("bob");
    first.close();
    await until(() => !server.router.online.size, 5000, "bob offline");
    // The reader's welcome waits, once its listing is made, until the test lets it go.
    const router = server.router;
    const userList = router.userList.bind(router);
    let release = () => {};
    const gate = new Promise<void>((resolve) => release = resolve);
    let held = false;
    router.userList = async (...args) => {
      const users = await userList(...args);
      if (!held) {
        held = true;
        await gate;
      }
      return users;
    };
    const signingIn = server.user("reader");
    await until(() => held, 5000, "the reader's listing under way");
    // Bob comes online meanwhile, and his round of presence goes out before the reader is in.
    const bob = await server.user("bob", { login: true });
    await sleep(200);
    release();
    const reader = await signingIn;
    // Listed online, or told right after the welcome (it came after the listing was made).
    const listed = reader.welcome!.users.find((u) => u.name === "bob");
    if (listed?.state !== "online") {
      const told = await within(reader.nextOf("presence"), 3000, "bob's presence");
      assert.deepEqual(usersIn(told, "online"), ["bob"]);
    }
    // Bob then leaves: the reader hears it like anyone online.
    bob.close();
    const gone = await reader.nextOf("presence");
    assert.deepEqual(usersIn(gone, "offline"), ["bob"]);
  }));
