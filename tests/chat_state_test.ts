/** The browser island's state and draft parsing, without a browser. */
import assert from "node:assert/strict";
import { parseDraft } from "../islands/chat_session.ts";
import { ChatState, EVERYONE } from "../islands/chat_state.ts";

function signedIn(): ChatState {
  const s = new ChatState();
  s.apply({
    type: "welcome",
    user: "alice",
    lang: "en",
    created: false,
    pending: 0,
    users: [
      { name: "alice", state: "online", lang: "en" },
      { name: "Bob", state: "online", lang: "es" },
      { name: "carol", state: "offline", lang: "fr" },
    ],
  });
  return s;
}

Deno.test("parseDraft() reads @name and @all, else the open conversation", () => {
  assert.deepEqual(parseDraft("@bob hi there", EVERYONE), { to: "bob", text: "hi there" });
  assert.deepEqual(parseDraft("@all hello\nworld", "bob"), { to: "all", text: "hello\nworld" });
  assert.deepEqual(parseDraft("  plain words ", EVERYONE), { to: "all", text: "plain words" });
  assert.deepEqual(parseDraft("to bob", "bob"), { to: "bob", text: "to bob" });
  assert.deepEqual(parseDraft("@bob", EVERYONE), { to: "all", text: "@bob" });
});

Deno.test("ChatState files messages by conversation and counts unread ones", () => {
  const s = signedIn();
  s.apply({ type: "message", id: "1", from: "Bob", to: "alice", text: "psst", ts: 1 });
  s.apply({ type: "message", id: "2", from: "carol", to: "all", text: "hi all", ts: 2 });
  s.apply({ type: "message", id: "2", from: "carol", to: "all", text: "hi all", ts: 2 });
  assert.deepEqual(s.visible.value.map((m) => m.text), ["hi all"]);
  assert.deepEqual(s.unread.value, { bob: 1 });
  assert.equal(s.totalUnread.value, 1);
  s.open("bob");
  assert.deepEqual(s.visible.value.map((m) => m.text), ["psst"]);
  assert.deepEqual(s.unread.value, {});
  assert.equal(s.titleOf("bob"), "Bob");
});

Deno.test("ChatState tracks own messages from sending to their outcome", () => {
  const s = signedIn();
  s.addOwn("carol", "later", "c1");
  s.addOwn("all", "anyone?", "c2");
  s.addOwn("nobody", "hello?", "c3");
  s.settleOwn("c1", { id: "m1", status: "stored", recipients: 0 });
  s.settleOwn("c2", { id: "m2", status: "delivered", recipients: 0 });
  s.failOwn("c3", "There is no user named 'nobody'.");
  const byCid = Object.fromEntries(s.messages.value.map((m) => [m.cid, m]));
  assert.equal(byCid.c1.status, "stored");
  assert.equal(byCid.c1.id, "m1");
  assert.equal(byCid.c1.conversation, "carol");
  assert.equal(byCid.c2.status, "sent", "a broadcast nobody received is only sent");
  assert.equal(byCid.c3.status, "failed");
});

Deno.test("ChatState shows presence and typing, and a message ends typing", () => {
  const s = signedIn();
  s.apply({ type: "presence", user: "carol", state: "online" });
  assert.equal(s.people.value.get("carol")!.state, "online");
  s.apply({ type: "presence", user: "Bob", state: "typing", to: "all" });
  assert.deepEqual(s.typingHere.value, ["Bob"]);
  s.apply({ type: "presence", user: "carol", state: "typing", to: "alice" });
  assert.deepEqual(s.typingHere.value, ["Bob"], "carol types privately, not here");
  s.open("carol");
  assert.deepEqual(s.typingHere.value, ["carol"]);
  s.apply({ type: "message", id: "9", from: "carol", to: "alice", text: "done", ts: 9 });
  assert.deepEqual(s.typingHere.value, []);
  s.apply({ type: "presence", user: "Bob", state: "online", to: "all" });
  assert.equal(s.people.value.get("bob")!.typingTo, undefined);
  assert.equal(s.people.value.get("bob")!.state, "online");
  s.apply({ type: "presence", user: "Bob", state: "offline" });
  assert.deepEqual(s.others.value.map((p) => `${p.name}:${p.state}`), [
    "carol:online",
    "Bob:offline",
  ]);
});
