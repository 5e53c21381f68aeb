/** The browser's state of rooms, history, sync and receipts, fed events as the draft defines them. */
import assert from "node:assert/strict";
import { h } from "preact";
import { renderToString } from "preact-render-to-string";
import { welcomeEvent } from "./fixtures.ts";
import { ChatState, conversationKey, mentions } from "../islands/chat_state.ts";
import { MessageList } from "../islands/message_list.tsx";
import { notifies } from "../islands/notifier.ts";
import { roomNameProblem } from "../islands/room_dialog.tsx";
import { newDeviceId, validDeviceId } from "../islands/device_id.ts";
import type { SeqMessage } from "../lib/client/events.ts";

function signedIn(sync: Record<string, unknown> = {}): ChatState {
  const s = new ChatState();
  s.apply({
    ...welcomeEvent({
      users: [
        { name: "alice", state: "online", lang: "en" },
        { name: "Bob", state: "online", lang: "en" },
      ],
    }),
    ...sync,
  });
  return s;
}

/** A `joined` with the fields the server always sends. */
const joined = (room: string, role: "owner" | "member" = "member", members = 1) => ({
  type: "joined" as const,
  room: `#${room}`,
  topic: "",
  visibility: "public" as const,
  role,
  members,
  created: false,
});

const msg = (seq: number, from: string, to: string, text = `m${seq}`): SeqMessage & {
  type: "message";
} => ({ type: "message", id: `id${seq}`, seq, from, to, text, ts: 1000 + seq });

Deno.test("conversationKey() and mentions() read names as frames give them", () => {
  assert.equal(conversationKey("#Dev"), "#dev");
  assert.equal(conversationKey("@Bob"), "bob");
  assert.equal(conversationKey("Bob"), "bob");
  assert.equal(conversationKey("all"), "all");
  assert.ok(mentions("hey @alice, look", "alice"));
  assert.ok(mentions("Alice: look", "alice"));
  assert.ok(!mentions("malice aforethought", "alice"));
  assert.ok(!mentions("alice_b is here", "alice"));
  assert.ok(mentions("ask a.b!", "a.b"));
  assert.ok(!mentions("axb", "a.b"), "a dot in a name is a dot");
});

Deno.test("ChatState takes unread counts, read markers and rooms from the welcome", () => {
  const s = signedIn({
    device: "web-1",
    cursor: 10,
    seq: 14,
    receipts: false,
    conversations: [
      { with: "#Dev", lastSeq: 14, lastTs: 5000, readSeq: 10, unread: 2 },
      { with: "@Bob", lastSeq: 12, lastTs: 4000, readSeq: 12, unread: 0 },
    ],
  });
  assert.deepEqual(s.unread.value, { "#dev": 2 });
  assert.equal(s.totalUnread.value, 2);
  assert.equal(s.readSeq.value["bob"], 12);
  assert.equal(s.receipts.value, false);
  assert.deepEqual(s.myRooms.value.map((r) => r.key), ["#dev"]);
  assert.equal(s.titleOf("#dev"), "#Dev");
  assert.deepEqual(s.contacts.value, ["Bob"]);
  // The catch-up after the welcome brings what its count covered: not counted twice.
  s.apply({ ...msg(13, "carol", "#Dev"), catchup: true } as Parameters<ChatState["apply"]>[0]);
  s.apply({ ...msg(14, "carol", "#Dev"), catchup: true } as Parameters<ChatState["apply"]>[0]);
  assert.deepEqual(s.unread.value, { "#dev": 2 });
  s.apply(msg(15, "carol", "#Dev"));
  assert.deepEqual(s.unread.value, { "#dev": 3 });
});

Deno.test("ChatState: rooms joined, changed, left; members with roles and presence", () => {
  const s = signedIn();
  s.apply({
    type: "joined",
    room: "dev",
    topic: "shipping",
    visibility: "invite",
    role: "owner",
    members: 1,
    created: true,
  });
  s.apply({
    type: "members",
    room: "#dev",
    members: [{ name: "alice", role: "owner", state: "online" }],
  });
  assert.equal(s.rooms.value.get("#dev")?.role, "owner");
  assert.equal(s.rooms.value.get("#dev")?.topic, "shipping");
  s.apply({ type: "room", room: "dev", joined: "Bob", by: "Bob" });
  assert.deepEqual(s.members.value.get("#dev")?.map((m) => `${m.name}:${m.role}`), [
    "alice:owner",
    "Bob:member",
  ]);
  assert.equal(s.rooms.value.get("#dev")?.memberCount, 2);
  s.apply({ type: "presence", user: "Bob", state: "offline" });
  assert.equal(s.members.value.get("#dev")?.[1].state, "offline");
  s.apply({ type: "room", room: "dev", owner: "Bob", by: "alice" });
  assert.equal(s.rooms.value.get("#dev")?.role, "member");
  assert.equal(s.members.value.get("#dev")?.[1].role, "owner");
  s.apply({ type: "room", room: "dev", topic: "frozen", by: "Bob" });
  assert.equal(s.rooms.value.get("#dev")?.topic, "frozen");
  s.open("#dev");
  // Kicked: the room is no longer the user's, and they are told by whom.
  s.apply({ type: "room", room: "dev", left: "alice", by: "Bob" });
  assert.equal(s.rooms.value.get("#dev")?.role, undefined);
  assert.equal(s.active.value, "all");
  assert.match(s.notice.value, /Bob removed you from #dev/);
  // Invited, then joined: the invitation goes.
  s.apply({ type: "invite", room: "ops", by: "Bob" });
  assert.ok(s.invitedTo("#ops"));
  s.apply(joined("ops", "member", 3));
  assert.ok(!s.invitedTo("#ops"));
  assert.equal(s.rooms.value.get("#ops")?.memberCount, 3);
  s.apply({ type: "left", room: "ops" });
  // An invitation the owner takes back goes from the list.
  s.apply({ type: "invite", room: "#ops", by: "Bob" });
  assert.ok(s.invitedTo("#ops"));
  s.apply({ type: "invite", room: "#ops", by: "Bob", withdrawn: true });
  assert.ok(!s.invitedTo("#ops"));
  assert.deepEqual(s.myRooms.value, []);
});

Deno.test("ChatState puts history pages before what is shown, in order, without repeats", () => {
  const s = signedIn();
  s.apply(joined("dev"));
  s.apply(msg(30, "Bob", "#dev"));
  s.apply({
    type: "history",
    with: "#dev",
    messages: [msg(28, "Bob", "#dev"), msg(29, "alice", "#dev"), msg(30, "Bob", "#dev")],
    more: true,
  });
  s.open("#dev");
  assert.deepEqual(s.visible.value.map((m) => m.seq), [28, 29, 30]);
  assert.ok(s.visible.value[1].own);
  s.apply({
    type: "history",
    with: "#dev",
    messages: [msg(26, "Bob", "#dev"), msg(27, "Bob", "#dev")],
    more: false,
  });
  assert.deepEqual(s.visible.value.map((m) => m.seq), [26, 27, 28, 29, 30]);
  assert.equal(s.more.value["#dev"], false);
  // History is not news: it neither counts as unread nor notifies.
  assert.deepEqual(s.unread.value, { "#dev": 1 });
  assert.ok(!notifies(s.visible.value[0]));
});

Deno.test("ChatState: unread counts follow the read marker, shared by the user's tabs", () => {
  const s = signedIn();
  const incoming: string[] = [];
  s.onIncoming = (m) => incoming.push(m.text);
  s.apply(msg(5, "Bob", "alice", "one"));
  s.apply(msg(6, "Bob", "alice", "two, alice?"));
  assert.deepEqual(s.unread.value, { bob: 2 });
  assert.deepEqual(s.mentioned.value, { bob: 1 });
  // Opening alone reads nothing: the messages must come on screen.
  s.open("bob");
  assert.deepEqual(s.unread.value, { bob: 2 });
  assert.ok(s.markRead("bob", 5));
  assert.deepEqual(s.unread.value, { bob: 1 });
  assert.ok(!s.markRead("bob", 5), "the marker never moves back");
  // Another tab read the rest: the server's `read` says so to every tab.
  s.apply({ type: "read", with: "@bob", readSeq: 6, unread: 0 });
  assert.deepEqual(s.unread.value, {});
  assert.deepEqual(s.mentioned.value, {});
  // A caught-up message already read elsewhere does not count.
  const old = { ...msg(4, "Bob", "alice", "old"), catchup: true };
  s.apply(old);
  assert.deepEqual(s.unread.value, {});
  assert.deepEqual(incoming, ["one", "two, alice?"]);
});

Deno.test("ChatState: receipts move own messages to delivered and read; rooms count readers", () => {
  const s = signedIn();
  s.addOwn("Bob", "first", "c1");
  s.addOwn("Bob", "second", "c2");
  s.settleOwn("c1", { id: "m1", status: "delivered", recipients: 1, seq: 7 });
  s.settleOwn("c2", { id: "m2", status: "stored", recipients: 0, seq: 8 });
  s.apply({ type: "receipt", with: "bob", id: "m2", seq: 8, state: "delivered" });
  s.apply({ type: "receipt", with: "bob", id: "m1", seq: 7, state: "read" });
  const status = () => s.messages.value.map((m) => `${m.text}:${m.status}`);
  assert.deepEqual(status(), ["first:read", "second:delivered"]);
  // A late `delivered` never undoes `read`.
  s.apply({ type: "receipt", with: "bob", id: "m1", seq: 7, state: "delivered" });
  assert.deepEqual(status(), ["first:read", "second:delivered"]);
  s.apply({ type: "receipt", with: "bob", seq: 8, state: "read" });
  assert.deepEqual(status(), ["first:read", "second:read"]);

  s.apply(joined("dev"));
  s.addOwn("#dev", "hello room", "c3");
  s.settleOwn("c3", { id: "m3", status: "delivered", recipients: 2, seq: 9 });
  s.apply({ type: "receipt", with: "#dev", seq: 9, readers: 2 });
  s.open("#dev");
  const html = renderToString(h(MessageList, { state: s }));
  assert.match(html, /Read by 2/);
});

Deno.test("ChatState: a history page says how far the other person got, so a reload keeps receipts", () => {
  const s = signedIn();
  s.apply({
    type: "history",
    with: "@Bob",
    messages: [msg(5, "alice", "Bob"), msg(6, "alice", "Bob"), msg(7, "Bob", "alice")],
    more: false,
    peer: { delivered: 6, read: 5 },
  });
  const own = () => s.messages.value.filter((m) => m.own).map((m) => `${m.text}:${m.status}`);
  assert.deepEqual(own(), ["m5:read", "m6:delivered"]);
  // Without read receipts from Bob, a page says only what reached him.
  const quiet = signedIn();
  quiet.apply({
    type: "history",
    with: "@Bob",
    messages: [msg(5, "alice", "Bob")],
    more: false,
    peer: { delivered: 5 },
  });
  assert.deepEqual(quiet.messages.value.map((m) => m.status), ["delivered"]);
});

Deno.test("ChatState orders rooms by last activity and marks mentions", () => {
  const s = signedIn();
  s.apply(joined("a-room"));
  s.apply(joined("b-room"));
  assert.deepEqual(s.myRooms.value.map((r) => r.key), ["#a-room", "#b-room"]);
  s.apply(msg(3, "Bob", "#b-room", "hi @alice"));
  assert.deepEqual(s.myRooms.value.map((r) => r.key), ["#b-room", "#a-room"]);
  assert.deepEqual(s.mentioned.value, { "#b-room": 1 });
  s.open("#b-room");
  const html = renderToString(h(MessageList, { state: s }));
  assert.match(html, /class="message mention"/);
  assert.match(html, /mentions you/);
  assert.ok(notifies(s.visible.value[0]));
  // Typing in a room shows in that room only.
  s.apply({ type: "presence", user: "Bob", state: "typing", to: "#b-room" });
  assert.deepEqual(s.typingHere.value, ["Bob"]);
  s.open("#a-room");
  assert.deepEqual(s.typingHere.value, []);
  s.open("#b-room");
  // A room message without a mention is no reason for a desktop notification; private is.
  s.apply(msg(4, "Bob", "#b-room", "plain"));
  assert.ok(!notifies(s.visible.value[1]));
  s.apply(msg(5, "Bob", "alice", "private"));
  assert.ok(notifies(s.messages.value.at(-1)!));
});

Deno.test("roomNameProblem() and validDeviceId() say what is wrong in words", () => {
  assert.equal(roomNameProblem("#dev"), "");
  assert.equal(roomNameProblem("Café_2"), "");
  assert.match(roomNameProblem(""), /name/);
  assert.match(roomNameProblem("two words"), /no spaces/);
  assert.match(roomNameProblem(".hidden"), /cannot start/);
  assert.match(roomNameProblem("x".repeat(33)), /32/);
  assert.ok(validDeviceId(newDeviceId()));
  assert.ok(!validDeviceId("has space"));
  assert.ok(!validDeviceId(""));
  assert.ok(!validDeviceId("x".repeat(65)));
});
