/**
 * The terminal client with rooms, history, multi-device sync, read state and receipts: the
 * real client process against a real server, and the chat view on its own.
 */
import assert from "node:assert/strict";
import type { Welcome } from "../lib/client/client.ts";
import type { SeqMessage } from "../lib/client/events.ts";
import { parseChatLine } from "../lib/client/terminal/commands.ts";
import { Formatter } from "../lib/client/terminal/format.ts";
import { ChatView } from "../lib/client/terminal/view.ts";
import { PASSWORD, withServer } from "./helpers.ts";
import { welcomeEvent } from "./fixtures.ts";
import { ClientProcess, freshDeviceFile, RecordingTerminal } from "./terminal_process.ts";

/** A message with the fields of stored conversations, as the view receives it. */
const msg = (m: SeqMessage): SeqMessage => m;

const TS = new Date(2024, 0, 2, 14, 7).getTime();

/** A chat view as alice sees it, and what it marked read. */
function aliceView() {
  const term = new RecordingTerminal();
  const marked: Array<[string, number]> = [];
  const view = new ChatView(
    term,
    new Formatter({ color: false, now: () => TS }),
    "here",
    (w, upTo) => marked.push([w, upTo]),
  );
  return { term, view, marked };
}

Deno.test("parseChatLine() reads room, history and read-state commands", () => {
  assert.deepEqual(parseChatLine("#dev hi all"), { kind: "send", to: "#dev", text: "hi all" });
  assert.deepEqual(parseChatLine("#dev"), { kind: "switch", to: "#dev" });
  assert.deepEqual(parseChatLine("@bob"), { kind: "switch", to: "@bob" });
  assert.deepEqual(parseChatLine("/join #dev"), {
    kind: "join",
    room: "#dev",
    visibility: undefined,
  });
  assert.deepEqual(parseChatLine("/join #ops invite"), {
    kind: "join",
    room: "#ops",
    visibility: "invite",
  });
  assert.deepEqual(parseChatLine("/create #ops"), {
    kind: "join",
    room: "#ops",
    visibility: undefined,
    create: true,
  });
  assert.equal(parseChatLine("/join dev").kind, "invalid");
  assert.deepEqual(parseChatLine("/leave"), { kind: "leave", room: undefined });
  assert.deepEqual(parseChatLine("/leave #dev"), { kind: "leave", room: "#dev" });
  assert.deepEqual(parseChatLine("/rooms"), { kind: "rooms" });
  assert.deepEqual(parseChatLine("/topic #dev  ship  it "), {
    kind: "topic",
    room: "#dev",
    text: "ship  it",
  });
  assert.deepEqual(parseChatLine("/topic ship it"), { kind: "topic", text: "ship it" });
  assert.deepEqual(parseChatLine("/invite @bob #dev"), {
    kind: "invite",
    user: "bob",
    room: "#dev",
  });
  assert.deepEqual(parseChatLine("/kick bob"), { kind: "kick", user: "bob", room: undefined });
  assert.deepEqual(parseChatLine("/owner @bob"), { kind: "owner", user: "bob", room: undefined });
  assert.equal(parseChatLine("/invite #dev").kind, "invalid");
  assert.deepEqual(parseChatLine("/members"), { kind: "members", room: undefined });
  assert.deepEqual(parseChatLine("/history"), { kind: "history", with: undefined, n: 20 });
  assert.deepEqual(parseChatLine("/history @bob 5"), { kind: "history", with: "@bob", n: 5 });
  assert.deepEqual(parseChatLine("/history 50 #dev"), { kind: "history", with: "#dev", n: 50 });
  assert.equal(parseChatLine("/history 0").kind, "invalid");
  assert.equal(parseChatLine("/history 101").kind, "invalid");
  assert.deepEqual(parseChatLine("/unread"), { kind: "unread" });
  assert.deepEqual(parseChatLine("/receipts off"), { kind: "receipts", on: false });
  assert.equal(parseChatLine("/receipts maybe").kind, "invalid");
  assert.deepEqual(parseChatLine("/say #not a room"), { kind: "reply", text: "#not a room" });
});

Deno.test("ChatView: the prompt shows the current conversation; a room keeps it", () => {
  const { term, view } = aliceView();
  view.show(welcomeEvent());
  assert.equal(term.prompt, "> ");
  view.show(
    msg({ type: "message", id: "1", seq: 1, from: "bob", to: "alice", text: "hi", ts: TS }),
  );
  assert.equal(term.prompt, "@bob> ");
  view.show({
    type: "joined",
    room: "#dev",
    topic: "ship it",
    visibility: "public",
    role: "member",
    members: 3,
    created: false,
  });
  assert.equal(term.prompt, "#dev> ");
  // A private message does not take the prompt away from a room.
  view.show(
    msg({ type: "message", id: "2", seq: 2, from: "carol", to: "alice", text: "psst", ts: TS }),
  );
  view.show(
    msg({ type: "message", id: "3", seq: 3, from: "carol", to: "#dev", text: "hey", ts: TS }),
  );
  assert.equal(term.prompt, "#dev> ");
  assert.deepEqual(term.take().slice(-5), [
    "[14:07] bob → you: hi",
    "* You joined #dev (3 members).",
    "* Topic of #dev: ship it",
    "[14:07] carol → you: psst",
    "[14:07] #dev carol: hey",
  ]);
  view.show({ type: "left", room: "#dev" });
  assert.equal(term.prompt, "> ");
  view.close();
});

Deno.test("ChatView marks what it prints as read, a few lines at a time, and counts unread", async () => {
  const { term, view, marked } = aliceView();
  const welcome: Welcome = {
    ...welcomeEvent({ pending: 2 }),
    device: "d1",
    cursor: 10,
    seq: 14,
    conversations: [
      { with: "#dev", lastSeq: 14, lastTs: TS, readSeq: 8, unread: 4 },
      { with: "@bob", lastSeq: 12, lastTs: TS, readSeq: 10, unread: 1 },
    ],
  };
  view.show(welcome);
  assert.ok(term.take().includes("* 2 messages arrived while you were away:"));
  const missed = { type: "message" as const, ts: TS, catchup: true };
  view.show(msg({ ...missed, id: "a", seq: 12, from: "bob", to: "alice", text: "there?" }));
  view.show(msg({ ...missed, id: "b", seq: 14, from: "carol", to: "#dev", text: "at 3" }));
  view.show({ type: "synced", seq: 14, more: false });
  assert.deepEqual(term.take(), [
    "[14:07] (missed) bob → you: there?",
    "[14:07] (missed) #dev carol: at 3",
    "* End of what you missed (2 messages).",
    "* 3 unread in #dev: /history <conversation> shows them.",
  ]);
  // Debounced: both markers go together, once.
  assert.deepEqual(marked, []);
  await new Promise((r) => setTimeout(r, 700));
  assert.deepEqual(marked.sort(), [["#dev", 14], ["@bob", 12]]);
  // The server's word wins (another device read the rest).
  view.show({ type: "read", with: "#dev", readSeq: 14, unread: 0 });
  view.showUnread();
  assert.deepEqual(term.take(), ["* Nothing unread."]);
  view.close();
});

Deno.test("ChatView shows receipts of the last message only, once each", async () => {
  const { term, view } = aliceView();
  view.show(welcomeEvent());
  view.showSent({
    type: "sent",
    id: "m1",
    seq: 5,
    to: "bob",
    status: "stored",
    recipients: 0,
  }, "one");
  view.showSent({
    type: "sent",
    id: "m2",
    seq: 6,
    to: "bob",
    status: "stored",
    recipients: 0,
  }, "two");
  term.take();
  // An older message's receipts say nothing; the last one's delivery (it was stored) and its
  // reading are said once each.
  view.show({ type: "receipt", with: "bob", id: "m1", seq: 5, state: "read" });
  view.show({ type: "receipt", with: "bob", id: "m2", seq: 6, state: "delivered" });
  view.show({ type: "receipt", with: "bob", id: "m2", seq: 6, state: "delivered" });
  view.show({ type: "receipt", with: "bob", id: "m2", seq: 6, state: "read" });
  view.show({ type: "receipt", with: "bob", id: "m2", seq: 6, state: "read" });
  assert.deepEqual(term.take(), [
    "* bob got your message of 14:07",
    "* bob read your message of 14:07",
  ]);
  // A room: the count, at most every 2 s, once it changed.
  view.showSent({
    type: "sent",
    id: "r1",
    seq: 7,
    to: "#dev",
    status: "delivered",
    recipients: 2,
  }, "hi");
  assert.deepEqual(term.take(), ["[14:07] #dev you: hi"]);
  view.show({ type: "receipt", with: "#dev", seq: 7, readers: 1 });
  view.show({ type: "receipt", with: "#dev", seq: 7, readers: 2 });
  await new Promise((r) => setTimeout(r, 2200));
  assert.deepEqual(term.take(), ["* 2 have read your message of 14:07 in #dev"]);
  view.close();
});

Deno.test("ChatView pages history back, and says where it begins", () => {
  const { term, view } = aliceView();
  view.show(welcomeEvent());
  term.take();
  const m = (seq: number, from: string) => ({
    type: "message" as const,
    id: `h${seq}`,
    seq,
    from,
    to: "#dev",
    text: `line ${seq}`,
    ts: TS,
  });
  assert.equal(view.historyBefore("#dev"), undefined);
  view.show({ type: "history", with: "#dev", messages: [m(8, "bob"), m(9, "alice")], more: true });
  assert.equal(view.historyBefore("#DEV"), 8);
  view.show({ type: "history", with: "#dev", messages: [m(3, "carol")], more: false });
  assert.equal(view.historyBefore("#dev"), 0);
  assert.deepEqual(term.take(), [
    "* History of #dev, 2 messages, oldest first:",
    "[14:07] #dev bob: line 8",
    "[14:07] #dev you: line 9",
    "* /history #dev again for the page before.",
    "* History of #dev, 1 message, oldest first:",
    "[14:07] #dev carol: line 3",
    "* That is the beginning of #dev.",
  ]);
  view.close();
});

Deno.test("terminal client joins, runs and leaves a room with a JSON client in it", () =>
  withServer(async (server) => {
    const bob = await server.user("bob");
    await server.user("carol");
    const dave = await server.user("dave");
    await dave.quit();
    const term = new ClientProcess(server.port);
    try {
      await term.type("dave", PASSWORD, "");
      await term.waitFor("Welcome back, dave!");
      await term.type("/join #dev");
      await term.waitFor("* Created #dev; you own it.");

      await bob.request({ type: "join", room: "dev" }, "joined");
      await term.waitFor("* bob joined #dev");
      // The current room is the default of every room command.
      await term.type("/topic shipping at 3");
      const topic = await bob.nextOf("room", (e) => e.topic !== undefined);
      assert.deepEqual([topic.room, topic.topic, topic.by], ["#dev", "shipping at 3", "dave"]);
      await term.waitFor("* you set the topic of #dev: shipping at 3");
      await term.type("/members");
      await term.waitFor("* #dev (2): dave (you, owner), bob");
      await term.type("/invite @carol");
      await term.waitFor("* Invited carol to #dev.");
      await term.type("/rooms");
      await term.waitFor("*   #dev (2 members, yours): shipping at 3");
      await term.type("/owner @bob");
      await term.waitFor("* bob now owns #dev");
      await term.type("/kick @bob");
      await term.waitFor("! "); // Not the owner any more.
      await term.type("/leave");
      await term.waitFor("* You left #dev.");
      await bob.nextOf("room", (e) => e.left === "dave");
      // Without a current room, room commands ask which.
      await term.type("/members");
      await term.waitFor("! Which room?");
      await term.type("/join #nowhere-else", "/leave #nowhere-else");
      await term.waitFor("* You left #nowhere-else.");
      assert.equal((await term.end()).code, 0);
    } catch (err) {
      throw new Error(`${(err as Error).message}; the client printed:\n${term.output}`);
    } finally {
      await term.dispose();
    }
  }));

Deno.test("terminal client keeps its device id across restarts", () =>
  withServer(async (server) => {
    await (await server.user("erin")).quit();
    const file = freshDeviceFile();
    const first = new ClientProcess(server.port, [], file);
    let second: ClientProcess | undefined;
    try {
      await first.type("erin", PASSWORD, "");
      await first.waitFor("Welcome back, erin!");
      await first.waitFor(`device id is now kept in ${file}`);
      assert.equal((await first.end()).code, 0);
      const id = (await Deno.readTextFile(file)).trim();
      assert.match(id, /^[0-9a-f-]{36}$/);

      second = new ClientProcess(server.port, [], file);
      await second.type("erin", PASSWORD, "");
      await second.waitFor("Welcome back, erin!");
      assert.equal((await second.end()).code, 0);
      assert.ok(!second.output.includes("device id is now kept"), second.output);
      assert.equal((await Deno.readTextFile(file)).trim(), id);
    } finally {
      await first.dispose();
      await second?.dispose();
    }
  }));
