/**
 * Text mode (nc) and the log: the short catch-up at sign-in, the read markers that what it shows
 * moves, and the receipts it shows. Real TCP text connections beside JSON devices, a real
 * SQLite file.
 */
import assert from "node:assert/strict";
import { PASSWORD, sleep, startServer, type TestServer, type TextSocket } from "./helpers.ts";
import { type Frame, Peer } from "./sync_helpers.ts";

const TIME = String.raw`\[\d\d:\d\d\]`;

/** alice, bob and carol; rooms (alice owns them, bob is in them) in the order given. */
async function seed(rooms: string[]): Promise<TestServer> {
  const server = await startServer({ limits: { ratePerSec: 1000, rateBurst: 1000 } });
  for (const name of ["alice", "bob", "carol"]) (await server.user(name)).close();
  for (const name of rooms) {
    const key = name.toLowerCase();
    await server.store.createRoom(
      { key, name, topic: "", visibility: "public", createdAt: Date.now() },
      "alice",
    );
    await server.store.joinRoom(key, "bob");
  }
  return server;
}

/** Signs `name` in over text mode (interactively: the test password has a space). */
async function textSignIn(server: TestServer, name: string): Promise<TextSocket> {
  const t = await server.text();
  await t.waitFor("Name:");
  await t.write(name);
  await t.waitFor(`Password for ${name}:`);
  await t.write(PASSWORD);
  await t.waitFor("Language");
  await t.write("");
  await t.waitFor(`Welcome back, ${name}!`);
  return t;
}

/** The lines up to and including the first that matches `pattern` (within 5 s). */
async function linesUntil(t: TextSocket, pattern: RegExp | string): Promise<string[]> {
  const lines: string[] = [];
  const deadline = Date.now() + 5000;
  while (true) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
    });
    const line = await Promise.race([t.nextLine(), timeout]);
    clearTimeout(timer);
    if (line === null || line === "timeout") {
      throw new Error(`no line matching ${pattern}; got:\n${lines.join("\n")}`);
    }
    lines.push(line);
    if (typeof pattern === "string" ? line.includes(pattern) : pattern.test(line)) return lines;
  }
}

/** Sends and returns the `sent` frame. */
async function say(peer: Peer, to: string, text: string): Promise<Frame> {
  await peer.send({ type: "send", to, text });
  return await peer.next("sent");
}

/** Waits until `check` holds, reading the store (the read markers move a moment after a line). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`never: ${what}`);
}

async function unread(server: TestServer, user: string): Promise<Record<string, number>> {
  const list = await server.store.conversations(user);
  return Object.fromEntries(list.map((c) => [c.conv, c.unread]));
}

Deno.test("text sign-in: private messages in full and in order, rooms as a short catch-up; a device's cursor is untouched", async () => {
  const server = await seed(["Dev", "Ops"]);
  try {
    const alice = (await Peer.signIn(server, "alice", { device: "a" })).peer;
    await alice.catchUp();
    // bob's browser tab has seen everything so far, and leaves.
    const tab = (await Peer.signIn(server, "bob", { device: "bob-tab" })).peer;
    await tab.catchUp();
    await tab.close();
    const [before] = await server.store.devices("bob");
    assert.equal(before.deviceId, "bob-tab");

    const sent: Frame[] = [];
    for (let i = 1; i <= 3; i++) sent.push(await say(alice, "bob", `private ${i}`));
    for (let i = 1; i <= 8; i++) sent.push(await say(alice, "#dev", `dev ${i}`));
    for (let i = 1; i <= 2; i++) sent.push(await say(alice, "#ops", `ops ${i}`));

    const t = await textSignIn(server, "bob");
    const lines = await linesUntil(t, "more in #Dev");
    const shown = lines.slice(lines.findIndex((l) => l.includes("arrived while you were away")));
    const expected = [
      String.raw`\* 3 messages arrived while you were away:`,
      `${TIME} alice -> you: private 1`,
      `${TIME} alice -> you: private 2`,
      `${TIME} alice -> you: private 3`,
      String.raw`\* While you were away: 10 messages in 2 rooms\.`,
      // The room with the newest activity first; at most 5 lines a room, the newest.
      `${TIME} #Ops alice: ops 1`,
      `${TIME} #Ops alice: ops 2`,
      ...[4, 5, 6, 7, 8].map((i) => `${TIME} #Dev alice: dev ${i}`),
      String.raw`\* 3 more in #Dev: /history #Dev`,
    ];
    assert.equal(shown.length, expected.length, shown.join("\n"));
    shown.forEach((line, i) => assert.match(line, new RegExp(`^${expected[i]}$`)));

    // What text mode showed is read, on every device: nothing unread is left.
    await until(
      async () => Object.values(await unread(server, "bob")).every((n) => n === 0),
      "bob's unread counts clear",
    );
    await t.write("/quit");
    await t.waitClosed();

    // The text sign-in moved no device's cursor: the tab catches up on all 13, once, in order.
    const [after] = await server.store.devices("bob");
    assert.equal(after.cursor, before.cursor);
    const back = await Peer.signIn(server, "bob", { device: "bob-tab" });
    assert.deepEqual(
      (back.welcome.conversations as { with: string; unread: number }[]).map((c) => c.unread),
      [0, 0, 0],
    );
    const caught = await back.peer.catchUp();
    assert.deepEqual(caught.map((m) => m.seq), sent.map((s) => s.seq));
    await Promise.all([back.peer.close(), alice.close()]);

    // Nothing is shown twice: the next text sign-in has nothing to catch up.
    const again = await textSignIn(server, "bob");
    await again.write("/who");
    const quiet = await linesUntil(again, "* Online");
    assert.ok(!quiet.some((l) => l.includes("away")), quiet.join("\n"));
    await again.write("/quit");
    await again.waitClosed();
  } finally {
    await server.close({ removeData: true });
  }
});

Deno.test("text sign-in: at most 20 room lines; a room past them keeps only its 'more' line and stays unread", async () => {
  const rooms = ["r1", "r2", "r3", "r4", "r5"];
  const server = await seed(rooms);
  try {
    const alice = (await Peer.signIn(server, "alice", { device: "a" })).peer;
    for (const room of rooms) {
      for (let i = 1; i <= 6; i++) await say(alice, `#${room}`, `${room} line ${i}`);
    }
    const t = await textSignIn(server, "bob");
    const lines = await linesUntil(t, "* 6 more in #r1: /history #r1");
    const start = lines.findIndex((l) => l.startsWith("* While you were away"));
    assert.equal(lines[start], "* While you were away: 30 messages in 5 rooms.");
    const summary = lines.slice(start + 1);
    assert.equal(summary.filter((l) => l.startsWith("[")).length, 20);
    for (const room of ["r5", "r4", "r3", "r2"]) {
      assert.ok(summary.includes(`* 1 more in #${room}: /history #${room}`), summary.join("\n"));
      assert.ok(summary.some((l) => l.endsWith(`#${room} alice: ${room} line 6`)));
      assert.ok(!summary.some((l) => l.endsWith(`#${room} alice: ${room} line 1`)));
    }
    assert.ok(!summary.some((l) => l.includes("#r1 alice")), "no line of the room past the cap");
    await until(async () => (await unread(server, "bob"))["#r2"] === 0, "#r2 read");
    assert.equal((await unread(server, "bob"))["#r1"], 6);
    await t.write("/quit");
    await t.waitClosed();
    await alice.close();
  } finally {
    await server.close({ removeData: true });
  }
});

Deno.test("text mode marks what it shows as read: the JSON sender gets read, the user's other device sees unread clear; /receipts off tells nobody", async () => {
  const server = await seed(["Dev"]);
  try {
    const alice = (await Peer.signIn(server, "alice", { device: "a" })).peer;
    await alice.catchUp();
    const tab = (await Peer.signIn(server, "bob", { device: "bob-tab" })).peer;
    await tab.catchUp();
    const t = await textSignIn(server, "bob");

    const hi = await say(alice, "bob", "hi bob");
    await t.waitFor(new RegExp(`^${TIME} alice -> you: hi bob$`));
    const receipt = await alice.next("receipt", (r) => r.state === "read");
    assert.deepEqual([receipt.with, receipt.id, receipt.seq], ["bob", hi.id, hi.seq]);
    const read = await tab.next("read", (r) => r.with === "@alice");
    assert.deepEqual([read.readSeq, read.unread], [hi.seq, 0]);

    // A room line: bob's marker in the room moves, and alice hears how many read it.
    const room = await say(alice, "#dev", "shipping at 3");
    await t.waitFor(/#Dev alice: shipping at 3$/);
    const roomRead = await tab.next("read", (r) => r.with === "#Dev");
    assert.deepEqual([roomRead.readSeq, roomRead.unread], [room.seq, 0]);
    const count = await alice.next("receipt", (r) => r.readers !== undefined);
    assert.deepEqual([count.with, count.seq, count.readers], ["#Dev", room.seq, 1]);

    // Receipts off: the marker still moves (the tab hears it), alice is not told.
    await t.write("/receipts off");
    await t.waitFor("* Read receipts off");
    const quiet = await say(alice, "bob", "are you reading this?");
    await t.waitFor(/alice -> you: are you reading this\?$/);
    assert.equal((await tab.next("read", (r) => r.with === "@alice")).readSeq, quiet.seq);
    await t.write("/receipts on");
    await t.waitFor("* Read receipts on");
    const loud = await say(alice, "bob", "and this?");
    await t.waitFor(/alice -> you: and this\?$/);
    const next = await alice.next("receipt", (r) => r.state === "read");
    assert.equal(next.seq, loud.seq, "no read receipt for what was shown with receipts off");
    await t.write("/quit");
    await t.waitClosed();
    await Promise.all([tab.close(), alice.close()]);
  } finally {
    await server.close({ removeData: true });
  }
});

Deno.test("text mode shows a read receipt once, for the newest message you sent; no room read counts", async () => {
  const server = await seed(["Dev"]);
  try {
    const alice = (await Peer.signIn(server, "alice", { device: "a" })).peer;
    await alice.catchUp();
    const tab = (await Peer.signIn(server, "bob", { device: "bob-tab" })).peer;
    await tab.catchUp();
    const t = await textSignIn(server, "bob");
    await t.write("@alice one");
    await t.waitFor("(delivered to alice)");
    await t.write("@alice two");
    await t.waitFor("(delivered to alice)");
    await t.write("#dev for the room");
    await t.waitFor("(sent to #Dev");
    const one = await alice.next("message", (m) => m.text === "one");
    const two = await alice.next("message", (m) => m.text === "two");
    const inRoom = await alice.next("message", (m) => m.text === "for the room");

    // alice reads the older one only: bob's newest is still unread, so nothing is shown.
    await alice.send({ type: "read", with: "@bob", upTo: one.seq as number });
    await alice.next("read");
    await alice.send({ type: "read", with: "#dev", upTo: inRoom.seq as number });
    await alice.next("read");
    await alice.send({ type: "read", with: "@bob", upTo: two.seq as number });
    await alice.next("read");
    // Reading it again tells nothing new.
    await alice.send({ type: "read", with: "@bob", upTo: two.seq as number });
    await alice.next("read");
    const hhmm = String.raw`(\w{3} \d+ )?\d\d:\d\d`;
    await t.write("/who");
    const lines = await linesUntil(t, "* Online");
    const receipts = lines.filter((l) => l.includes("read your message"));
    assert.equal(receipts.length, 1, lines.join("\n"));
    assert.match(receipts[0], new RegExp(`^\\* alice read your message of ${hhmm}$`));
    // Room read counts are not shown in text mode: the tab gets one, the terminal does not.
    await tab.next("receipt", (r) => r.readers !== undefined);
    await t.write("/who");
    const later = await linesUntil(t, "* Online");
    assert.ok(!later.some((l) => l.includes("read your message")), later.join("\n"));
    await t.write("/quit");
    await t.waitClosed();
    await Promise.all([tab.close(), alice.close()]);
  } finally {
    await server.close({ removeData: true });
  }
});
