/**
 * Room messages on the log: membership checks, fan-out to members, typing per room, and a
 * SIGKILL of a real server process that loses nothing confirmed. Real processes and sockets, a
 * real SQLite file.
 */
import assert from "node:assert/strict";
import {
  PASSWORD,
  SecureSocket,
  sleep,
  startServer,
  type TestServer,
  TextSocket,
} from "./helpers.ts";
import { spawnServer } from "./process_helpers.ts";
import { Peer } from "./sync_helpers.ts";

/** Accounts and a room #Dev (alice owns it, bob and carol are in; dave is not), in `dataDir`. */
async function seed(dataDir?: string): Promise<TestServer> {
  const server = await startServer({ dataDir, limits: { ratePerSec: 1000, rateBurst: 1000 } });
  for (const name of ["alice", "bob", "carol", "dave"]) (await server.user(name)).close();
  await server.store.createRoom(
    { key: "dev", name: "Dev", topic: "", visibility: "public", createdAt: Date.now() },
    "alice",
  );
  await server.store.joinRoom("dev", "bob");
  await server.store.joinRoom("dev", "carol");
  return server;
}

async function peerOn(port: number, fingerprint: string, name: string, device: string) {
  const peer = new Peer(await SecureSocket.over(await TextSocket.connect(port), fingerprint));
  await peer.send({ type: "login", name, password: PASSWORD, device });
  const welcome = await peer.next("welcome");
  return { peer, welcome };
}

Deno.test("a room message goes to its members only; outsiders and unknown rooms get clear errors", async () => {
  const server = await seed();
  try {
    const alice = (await Peer.signIn(server, "alice", { device: "a" })).peer;
    const bob = (await Peer.signIn(server, "bob", { device: "b" })).peer;
    const dave = (await Peer.signIn(server, "dave", { device: "d" })).peer;
    for (const p of [alice, bob, dave]) await p.catchUp();
    await bob.send({ type: "typing", to: "#dev" });
    const typing = await alice.next("presence");
    assert.deepEqual([typing.user, typing.state, typing.to], ["bob", "typing", "#Dev"]);
    await alice.send({ type: "send", to: "#dev", text: "hello room", cid: "r1" });
    const sent = await alice.next("sent");
    assert.deepEqual([sent.to, sent.status, sent.recipients], ["#Dev", "delivered", 1]);
    const got = await bob.next("message");
    assert.deepEqual([got.to, got.from, got.seq], ["#Dev", "alice", sent.seq]);
    await dave.send({ type: "send", to: "#dev", text: "let me in", cid: "x" });
    assert.equal((await dave.next("error")).code, "not_a_member");
    await dave.send({ type: "send", to: "#nowhere", text: "hello?" });
    assert.equal((await dave.next("error")).code, "no_such_room");
    await dave.send({ type: "typing", to: "#dev" });
    assert.equal((await dave.next("error")).code, "not_a_member");
    // dave saw nothing of the room; a ping answered proves nothing was on its way.
    await dave.send({ type: "ping" });
    await dave.next("pong");
    assert.ok(!dave.sock.lines.some((l) => l.includes("hello room")));
    await Promise.all([alice.close(), bob.close(), dave.close()]);
  } finally {
    await server.close({ removeData: true });
  }
});

Deno.test("room messages confirmed before a SIGKILL reach every member after the restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-room-kill-" });
  try {
    await (await seed(dataDir)).close({ removeData: false });
    const first = await spawnServer(dataDir);
    const alice = await peerOn(first.tcpPort, first.fingerprint, "alice", "a");
    await alice.peer.catchUp();
    const bob = await peerOn(first.tcpPort, first.fingerprint, "bob", "b");
    await bob.peer.catchUp();
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      await alice.peer.send({ type: "send", to: "#dev", text: `r${i}`, cid: `k${i}` });
      seqs.push((await alice.peer.next("sent")).seq as number);
    }
    // bob read the first three live and acknowledged them; then the server dies.
    let last = 0;
    while (last < seqs[2]) last = (await bob.peer.next("message")).seq as number;
    await bob.peer.send({ type: "ack", upTo: seqs[2] });
    await bob.peer.next("acked");
    assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL");

    const second = await spawnServer(dataDir);
    try {
      // carol was away: all five, in order; bob: the two he had not acknowledged.
      const carol = await peerOn(second.tcpPort, second.fingerprint, "carol", "c");
      assert.equal(carol.welcome.pending, 5);
      assert.deepEqual((await carol.peer.catchUp()).map((m) => m.seq), seqs);
      const bobBack = await peerOn(second.tcpPort, second.fingerprint, "bob", "b");
      const again = await bobBack.peer.catchUp();
      assert.deepEqual(again.map((m) => [m.seq, m.text, m.to]), [
        [seqs[3], "r3", "#Dev"],
        [seqs[4], "r4", "#Dev"],
      ]);
      // A resend of a confirmed cid after the restart is recognised: nothing stored twice.
      const aliceBack = await peerOn(second.tcpPort, second.fingerprint, "alice", "a");
      await aliceBack.peer.send({ type: "send", to: "#dev", text: "r4", cid: "k4" });
      const dup = await aliceBack.peer.next("sent");
      assert.deepEqual([dup.duplicate, dup.seq], [true, seqs[4]]);
      await Promise.all([carol.peer.close(), bobBack.peer.close(), aliceBack.peer.close()]);
    } finally {
      await second.stop("SIGTERM");
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("text mode: what arrived while away, private lines then the rooms' catch-up, at sign-in; /history pages back", async () => {
  const server = await seed();
  try {
    const alice = (await Peer.signIn(server, "alice", { device: "a" })).peer;
    await alice.catchUp();
    for (let i = 1; i <= 3; i++) {
      await alice.send({ type: "send", to: "#dev", text: `room line ${i}` });
      await alice.next("sent");
    }
    await alice.send({ type: "send", to: "bob", text: "psst, bob" });
    await alice.next("sent");
    const t = await server.text();
    await t.waitFor("Name:");
    // The interactive sign-in: the test accounts' password has a space.
    await t.write("bob");
    await t.waitFor("Password for bob:");
    await t.write(PASSWORD);
    await t.waitFor("Language");
    await t.write("");
    await t.waitFor("Welcome back, bob!");
    // Private messages in full, then the rooms' short catch-up.
    await t.waitFor("* 1 message arrived while you were away:");
    await t.waitFor(/^\[\d\d:\d\d\] alice -> you: psst, bob$/);
    await t.waitFor("* While you were away: 3 messages in 1 room.");
    await t.waitFor(/^\[\d\d:\d\d\] #Dev alice: room line 1$/);
    await t.waitFor(/^\[\d\d:\d\d\] #Dev alice: room line 3$/);
    // A room line written live, then the history, a page at a time.
    await alice.send({ type: "send", to: "#dev", text: "room line 4" });
    await t.waitFor(/#Dev alice: room line 4$/);
    await t.write("#dev thanks");
    await t.waitFor("(sent to #Dev: 1 member online)");
    await t.write("/history #dev 2");
    await t.waitFor("* History with #Dev, 2 lines:");
    await t.waitFor(/#Dev alice: room line 4$/);
    await t.waitFor(/#Dev you: thanks$/);
    await t.waitFor("* Older lines: /history #Dev again.");
    await t.write("/history #dev 2");
    await t.waitFor(/#Dev alice: room line 2$/);
    await t.waitFor(/#Dev alice: room line 3$/);
    await t.write("/history #dev 5");
    await t.waitFor(/#Dev alice: room line 1$/);
    await t.waitFor("* That is the start of the conversation.");
    // Nothing comes again at the next sign-in: the text session took it all.
    await t.write("/quit");
    await t.waitClosed();
    for (let i = 0; i < 100 && await server.store.pendingCount("bob") > 0; i++) await sleep(20);
    assert.equal(await server.store.pendingCount("bob"), 0);
    await alice.close();
  } finally {
    await server.close({ removeData: true });
  }
});
