/**
 * The terminal client with rooms, history, multi-device sync, read state and receipts: the
 * real client process against a real server, and the chat view on its own.
 */
import assert from "node:assert/strict";
import type { Welcome } from "../lib/client/client.ts";
import type { SeqMessage } from "../lib/client/events.ts";
import { parseChatLine, typingTarget } from "../lib/client/terminal/commands.ts";
import { Formatter } from "../lib/client/terminal/format.ts";
import { ReceiptLines } from "../lib/client/terminal/receipts.ts";
import { ChatView } from "../lib/client/terminal/view.ts";
import { PASSWORD, withServer } from "./helpers.ts";
import { welcomeEvent } from "./fixtures.ts";
import { textUser } from "./raw.ts";
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
  // Typing goes where the line goes: a room named first, else the current conversation.
  assert.equal(typingTarget("#dev h", "bob"), "#dev");
  assert.equal(typingTarget("#dev", "bob"), undefined);
  assert.equal(typingTarget("hel", "#dev"), "#dev");
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
  // Leaving a room one was only invited to turns the invitation down, and says so.
  view.show({ type: "left", room: "#ops", declined: true });
  assert.deepEqual(term.take().slice(-2), [
    "* You left #dev.",
    "* You declined the invitation to #ops.",
  ]);
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
  term.take();
  const missed = { type: "message" as const, ts: TS, catchup: true };
  view.show(msg({ ...missed, id: "a", seq: 12, from: "bob", to: "alice", text: "there?" }));
  view.show(msg({ ...missed, id: "b", seq: 14, from: "carol", to: "#dev", text: "at 3" }));
  view.show({ type: "synced", seq: 14, more: false });
  assert.deepEqual(term.take(), [
    "* 2 messages arrived while you were away:",
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
  // One page at a time: asking again before it came would show the same page twice.
  assert.equal(view.askHistory("#dev"), true);
  assert.equal(view.askHistory("#DEV"), false);
  view.show({ type: "history", with: "#dev", messages: [m(8, "bob"), m(9, "alice")], more: true });
  assert.equal(view.askHistory("#dev"), true);
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

/** A terminal client signed in as `name` (whose account exists), with its own device file. */
async function terminalAs(port: number, name: string, deviceFile = freshDeviceFile()) {
  const term = new ClientProcess(port, [], deviceFile);
  await term.type(name, PASSWORD, "");
  await term.waitFor(`Welcome back, ${name}!`);
  return term;
}

/** Runs `body` with a terminal, and shows what it printed when something fails. */
async function withTerminal(term: ClientProcess, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- the client printed:\n${term.output}`);
  } finally {
    await term.dispose();
  }
}

Deno.test("terminal client talks in a room with a JSON client and a text client", () =>
  withServer(async (server) => {
    const bob = await server.user("bob");
    await (await server.user("dave")).quit();
    const carol = await textUser(server, "carol");
    const term = await terminalAs(server.port, "dave");
    await withTerminal(term, async () => {
      await term.type("/join #dev");
      await term.waitFor("* Created #dev; you own it.");
      await bob.request({ type: "join", room: "#dev" }, "joined");
      await carol.write("/join #dev");
      await term.waitFor("* carol joined #dev");

      // Plain text goes to the current room: everyone in it gets it, each in their own way.
      await term.type("hello room");
      const m = await bob.nextOf("message", (e) => e.to === "#dev");
      assert.deepEqual([m.from, m.text], ["dave", "hello room"]);
      await carol.waitFor(/^\[\d\d:\d\d\] #dev dave: hello room$/);
      await term.waitFor(/^\[[\w :]+\] #dev you: hello room$/);
      // Who read it comes back as a count (nc shows it, so carol read it too).
      await bob.request({ type: "read", with: "#dev", upTo: m.seq! }, "read");
      await term.waitFor(/^\* [12] ha(s|ve) read your message of [\w :]+ in #dev$/);

      await bob.send("#dev", "hi from json");
      await term.waitFor(/^\[[\w :]+\] #dev bob: hi from json$/);
      await carol.write("#dev hi from nc");
      await term.waitFor(/^\[[\w :]+\] #dev carol: hi from nc$/);

      // A private message does not move the prompt out of the room; #room text goes anywhere.
      await bob.send("dave", "psst");
      await term.waitFor(/bob → you: psst$/);
      await term.type("still in the room", "@bob back to you");
      assert.equal((await bob.nextOf("message", (e) => e.text === "still in the room")).to, "#dev");
      assert.equal((await bob.nextOf("message", (e) => e.text === "back to you")).to, "bob");
      await term.type("#dev and the room again");
      await carol.waitFor("#dev dave: and the room again");

      // Not a member: a clear error, and the prompt stays where it was.
      await term.type("#ops anyone?");
      await term.waitFor(/^! .*#?ops/i);
      assert.equal((await term.end()).code, 0);
    });
  }));

Deno.test("terminal client pages through a room's history, oldest first, without gaps", () =>
  withServer(async (server) => {
    const bob = await server.user("bob");
    await (await server.user("dave")).quit();
    await bob.request({ type: "join", room: "#log" }, "joined");
    for (let i = 1; i <= 25; i++) await bob.send("#log", `line ${i}`);
    const term = await terminalAs(server.port, "dave");
    await withTerminal(term, async () => {
      await term.type("/join #log");
      // A join shows the room's last page: here all of it.
      await term.waitFor("* You joined #log (2 members).");
      await term.waitFor("* That is the beginning of #log.");
      const from = term.output.length;
      await term.type("/history 10");
      await term.waitFor("* /history #log again for the page before.", undefined, from);
      await term.type("/history 10");
      await term.waitFor(/#log bob: line 6$/, undefined, from);
      await term.type("/history #log 10");
      await term.waitFor("* That is the beginning of #log.", undefined, from);
      assert.equal((await term.end()).code, 0);
      const paged = term.output.slice(from).split("\n")
        .flatMap((l) => l.match(/#log bob: line (\d+)$/)?.[1] ?? []).map(Number);
      assert.deepEqual(paged, [
        ...[16, 17, 18, 19, 20, 21, 22, 23, 24, 25],
        ...[6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        ...[1, 2, 3, 4, 5],
      ]);
    });
  }, { limits: { ratePerSec: 1000, rateBurst: 1000 } }));

Deno.test("terminal client catches up once after a restart, with the same device id", () =>
  withServer(async (server) => {
    const bob = await server.user("bob");
    await (await server.user("erin")).quit();
    const device = freshDeviceFile();
    let term = await terminalAs(server.port, "erin", device);
    await withTerminal(term, async () => {
      assert.equal((await term.end()).code, 0);
    });

    await bob.send("erin", "first while away");
    await bob.send("erin", "second while away");
    term = await terminalAs(server.port, "erin", device);
    await withTerminal(term, async () => {
      await term.waitFor("* 2 messages arrived while you were away:");
      await term.waitFor(/\(missed\) bob → you: first while away$/);
      await term.waitFor(/\(missed\) bob → you: second while away$/);
      await term.waitFor("* End of what you missed (2 messages).");
      // The catch-up is acknowledged: wait until the server has the cursor, then leave.
      await term.type("/unread");
      await term.waitFor(/^\* (Nothing unread|.*unread in)/);
      assert.equal((await term.end()).code, 0);
    });

    term = await terminalAs(server.port, "erin", device);
    await withTerminal(term, async () => {
      await bob.send("erin", "live again");
      await term.waitFor(/bob → you: live again$/);
      assert.equal((await term.end()).code, 0);
      assert.ok(!term.output.includes("while away"), "the catch-up came once");
      assert.ok(!term.output.includes("arrived while you were away"));
    });
  }));

Deno.test("terminal client shows when its messages are read, and is read when it prints", () =>
  withServer(async (server) => {
    const bob = await server.user("bob");
    await (await server.user("dave")).quit();
    const term = await terminalAs(server.port, "dave");
    await withTerminal(term, async () => {
      await term.type("@bob did you see this?");
      const m = await bob.nextOf("message", (e) => e.from === "dave");
      assert.ok(m.seq !== undefined);
      await bob.request({ type: "read", with: "@dave", upTo: m.seq }, "read");
      await term.waitFor(/^\* bob read your message of [\w :]+$/);

      // The other way: what the terminal prints, it reads, and bob is told.
      const sent = await bob.send("dave", "yes, and you?");
      await term.waitFor(/bob → you: yes, and you\?$/);
      const receipt = await bob.nextOf("receipt", (e) => e.seq === sent.seq && e.state === "read");
      assert.equal(receipt.with.replace(/^@/, ""), "dave");

      // With receipts off, bob hears of delivery only.
      await term.type("/receipts");
      await term.waitFor("* Read receipts are on (/receipts off stops them).");
      await term.type("/receipts off");
      await term.waitFor("* Read receipts are off: nobody sees");
      await term.type("/receipts");
      await term.waitFor("* Read receipts are off (/receipts on sends them).");
      const quiet = await bob.send("dave", "and now?");
      await term.waitFor(/bob → you: and now\?$/);
      await bob.send("dave", "marker");
      await term.waitFor(/bob → you: marker$/);
      await new Promise((r) => setTimeout(r, 800)); // The read markers go after 0.5 s.
      assert.ok(
        !bob.buffered.some((e) =>
          e.type === "receipt" && e.seq === quiet.seq && e.state === "read"
        ),
      );
      assert.equal((await term.end()).code, 0);
    });
  }));

Deno.test("terminal client counts what another device left unread, and reads it with /history", () =>
  withServer(async (server) => {
    const bob = await server.user("bob");
    const other = await server.client();
    await other.register("dave", PASSWORD, undefined, "dave-phone");
    await other.request({ type: "join", room: "#dev" }, "joined");
    await bob.request({ type: "join", room: "#dev" }, "joined");
    for (const text of ["one", "two", "three"]) await bob.send("#dev", text);
    // The phone got them and acknowledged them, but nobody read them.
    const last = await other.nextOf("message", (e) => e.text === "three");
    await other.ackUpTo(last.seq!);
    const term = await terminalAs(server.port, "dave");
    await withTerminal(term, async () => {
      await term.waitFor("* 3 unread in #dev: /history <conversation> shows them.");
      await term.type("/unread");
      await term.waitFor(/^\* 3 unread in #dev/);
      await term.type("/history #dev");
      await term.waitFor(/#dev bob: three$/);
      // Read here, so read on the phone too.
      const read = await other.nextOf("read", (e) => e.unread === 0);
      assert.equal(read.with, "#dev");
      await term.type("/unread");
      await term.waitFor("* Nothing unread.");
      assert.equal((await term.end()).code, 0);
    });
    await other.quit();
  }));

Deno.test("ChatView says nothing of a catch-up whose messages it had already shown", () => {
  const { term, view } = aliceView();
  const welcome: Welcome = { ...welcomeEvent({ pending: 1 }), device: "d1", conversations: [] };
  view.show(welcome);
  term.take();
  // The reconnecting client drops a message it showed before; only `synced` arrives.
  view.show({ type: "synced", seq: 3, more: false });
  assert.deepEqual(term.take(), []);
  view.close();
});

Deno.test("ChatView says who is typing in which room", () => {
  const { term, view } = aliceView();
  view.show(welcomeEvent());
  term.take();
  view.show({ type: "presence", user: "carol", state: "typing", to: "#dev" });
  assert.deepEqual(term.take(), ["* carol is typing in #dev…"]);
  view.show({ type: "presence", user: "bob", state: "typing", to: "alice" });
  assert.deepEqual(term.take(), ["* bob is typing…"]);
  view.close();
});

Deno.test("ReceiptLines: a receipt that comes before its message's sent is shown once the sent is", () => {
  const said: string[] = [];
  const lines = new ReceiptLines((text, _ts, withName) => said.push(`${withName}: ${text}`));
  // Both came in one batch; the send's caller heard of its `sent` a microtask later.
  lines.receipt({ type: "receipt", with: "bob", id: "m7", seq: 7, state: "read" });
  assert.deepEqual(said, []);
  lines.sent("bob", 7, 1000, "m7");
  assert.deepEqual(said, ["bob: read"]);
  // Shown once.
  lines.receipt({ type: "receipt", with: "bob", id: "m7", seq: 7, state: "read" });
  assert.deepEqual(said, ["bob: read"]);
  lines.close();
});
