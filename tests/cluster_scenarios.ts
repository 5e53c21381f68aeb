/**
 * Two nodes of one service in this process: two routers with their own TCP listeners sharing one
 * store and one bus. Users on different nodes must see one server. Each bus implementation's
 * test file runs these with `runClusterScenarios`.
 */
import assert from "node:assert/strict";
import type { Translator } from "../lib/translate/translator.ts";
import type { BusCluster } from "./bus_conformance.ts";
import { startServer, type TestServer, until } from "./helpers.ts";
import { type Frame, Peer } from "./sync_helpers.ts";

/** Two nodes, `a` owning the store, `b` sharing it. */
export interface TwoNodes {
  a: TestServer;
  b: TestServer;
  close(): Promise<void>;
}

/** Starts two nodes on `bus`, sharing one SQLite store. */
export async function startTwoNodes(
  bus: BusCluster,
  options: { heartbeatMs?: number; translator?: Translator } = {},
): Promise<TwoNodes> {
  const a = await startServer({
    bus: await bus.join("node-a"),
    heartbeatMs: options.heartbeatMs,
    translator: options.translator,
  });
  const b = await startServer({
    bus: await bus.join("node-b"),
    heartbeatMs: options.heartbeatMs,
    translator: options.translator,
    store: a.store,
    dataDir: a.dataDir,
  });
  return {
    a,
    b,
    async close() {
      await b.close();
      await a.close({ removeData: true });
    },
  };
}

/** Frames of `type` a peer received so far (matching `where`). */
export function received(peer: Peer, type: string, where: (f: Frame) => boolean = () => true) {
  return peer.sock.history.map((l) => JSON.parse(l) as Frame).filter((f) =>
    f.type === type && where(f)
  );
}

/** Signs in with a device (registering unless `login`), and reads the catch-up. */
export async function signIn(
  node: TestServer,
  name: string,
  device: string,
  login = false,
): Promise<Peer> {
  const { peer } = await Peer.signIn(node, name, { device, register: !login });
  await peer.catchUp();
  return peer;
}

const isPresence = (user: string, state: string) => (f: Frame) =>
  f.user === user && f.state === state && f.to === undefined;

/**
 * Closes `first`, waits until `last` hears it went offline (nothing is left on its way to a
 * closing connection), then closes `last`.
 */
async function leave(first: Peer, last: Peer): Promise<void> {
  const name = JSON.parse(first.sock.history.find((l) => l.includes('"welcome"'))!).user;
  await first.close();
  await last.next("presence", isPresence(name, "offline"));
  await last.close();
}

/** Registers the scenarios for one bus implementation. */
export function runClusterScenarios(factory: {
  name: string;
  make(): Promise<BusCluster>;
  skip?: string;
  sanitize?: { ops?: boolean; resources?: boolean };
}): void {
  const test = (name: string, fn: (bus: BusCluster) => Promise<void>) =>
    Deno.test({
      name: `two nodes (${factory.name}): ${name}`,
      ignore: factory.skip !== undefined,
      sanitizeOps: factory.sanitize?.ops ?? true,
      sanitizeResources: factory.sanitize?.resources ?? true,
      fn: async () => {
        const bus = await factory.make();
        try {
          await fn(bus);
        } finally {
          await bus.close();
        }
      },
    });

  test("users on different nodes exchange private, room and broadcast messages", async (bus) => {
    const nodes = await startTwoNodes(bus);
    try {
      const alice = await signIn(nodes.a, "alice", "a1");
      const bob = await signIn(nodes.b, "bob", "b1");
      await alice.next("presence", isPresence("bob", "online"));

      await alice.send({ type: "send", to: "bob", text: "hi bob", cid: "c1" });
      const sent = await alice.next("sent");
      assert.deepEqual([sent.status, sent.recipients], ["delivered", 1]);
      const got = await bob.next("message", (f) => f.text === "hi bob");
      assert.deepEqual([got.from, got.to, got.seq], ["alice", "bob", sent.seq]);
      await bob.send({ type: "send", to: "alice", text: "hi alice" });
      await alice.next("message", (f) => f.text === "hi alice");

      await alice.send({ type: "join", room: "dev" });
      await alice.next("joined");
      await bob.send({ type: "join", room: "dev" });
      await bob.next("joined");
      await alice.next("room", (f) => f.joined === "bob");
      await alice.send({ type: "topic", room: "dev", text: "shipping" });
      await bob.next("room", (f) => f.topic === "shipping");
      await alice.send({ type: "send", to: "#dev", text: "hello room" });
      const inRoom = await bob.next("message", (f) => f.text === "hello room");
      assert.deepEqual([inRoom.from, inRoom.to], ["alice", "#dev"]);

      await bob.send({ type: "send", to: "all", text: "hello everyone" });
      const toAll = await bob.next("sent");
      assert.deepEqual([toAll.status, toAll.recipients], ["delivered", 1]);
      const heard = await alice.next("message", (f) => f.text === "hello everyone");
      assert.deepEqual([heard.from, heard.to, heard.seq], ["bob", "all", undefined]);

      // Receipts: bob reads alice's message, alice hears it.
      await bob.send({ type: "read", with: "alice", upTo: got.seq as number });
      const receipt = await alice.next("receipt", (f) => f.state === "read");
      assert.deepEqual([receipt.with, receipt.seq], ["bob", sent.seq]);
      for (const peer of [alice, bob]) {
        for (const text of ["hi bob", "hi alice", "hello room", "hello everyone"]) {
          assert.ok(received(peer, "message", (f) => f.text === text).length <= 1, text);
        }
      }
      await leave(bob, alice);
    } finally {
      await nodes.close();
    }
  });

  test("presence, who and typing cross nodes", async (bus) => {
    const nodes = await startTwoNodes(bus);
    try {
      const carol = await signIn(nodes.a, "carol", "c1");
      const dave = await signIn(nodes.b, "dave", "d1");
      await carol.next("presence", isPresence("dave", "online"));
      await carol.send({ type: "who", cid: "w" });
      const who = await carol.next("who");
      const listed = (who.users as { name: string; state: string }[]).filter((u) =>
        u.state === "online"
      );
      assert.deepEqual(listed.map((u) => u.name), ["carol", "dave"]);
      assert.equal(who.online, 2);

      await dave.send({ type: "typing", to: "carol", active: true });
      const typing = await carol.next("presence", (f) => f.state === "typing");
      assert.deepEqual([typing.user, typing.to], ["dave", "carol"]);
      await dave.send({ type: "typing", to: "carol", active: false });
      const stopped = await carol.next("presence", (f) => f.user === "dave" && f.to === "carol");
      assert.equal(stopped.state, "online");

      // In a room too, and the room's member list sees both online.
      await carol.send({ type: "join", room: "ops" });
      await carol.next("joined");
      await dave.send({ type: "join", room: "ops" });
      await dave.next("joined");
      await carol.send({ type: "typing", to: "#ops", active: true });
      const inRoom = await dave.next("presence", (f) => f.state === "typing");
      assert.deepEqual([inRoom.user, inRoom.to], ["carol", "#ops"]);
      await dave.send({ type: "members", room: "ops" });
      const members = await dave.next("members");
      assert.deepEqual(
        (members.members as { name: string; state: string }[]).map((m) => [m.name, m.state]),
        [["carol", "online"], ["dave", "online"]],
      );

      // A delivered receipt: dave's device acknowledges carol's message on its node.
      await carol.send({ type: "send", to: "dave", text: "ping" });
      const sent = await carol.next("sent");
      await dave.next("message", (f) => f.text === "ping");
      await dave.send({ type: "ack", upTo: sent.seq });
      const delivered = await carol.next("receipt", (f) => f.state === "delivered");
      assert.deepEqual([delivered.with, delivered.seq], ["dave", sent.seq]);

      await dave.close();
      await carol.next("presence", isPresence("dave", "offline"));
      await carol.close();
    } finally {
      await nodes.close();
    }
  });

  test("a user with devices on both nodes gets everything once on each, and is one user", async (bus) => {
    const nodes = await startTwoNodes(bus);
    try {
      const frank = await signIn(nodes.b, "frank", "f1");
      const erinA = await signIn(nodes.a, "erin", "e-laptop");
      await frank.next("presence", isPresence("erin", "online"));
      const erinB = await signIn(nodes.b, "erin", "e-phone", true);

      for (let i = 1; i <= 3; i++) {
        await frank.send({ type: "send", to: "erin", text: `m${i}` });
        await frank.next("sent");
      }
      await erinA.send({ type: "send", to: "frank", text: "from the laptop" });
      await frank.next("message", (f) => f.text === "from the laptop");
      await erinB.next("message", (f) => f.text === "from the laptop");
      // A last message through each node: once it is in, everything before it is.
      await frank.send({ type: "send", to: "erin", text: "last" });
      await erinA.next("message", (f) => f.text === "last");
      await erinB.next("message", (f) => f.text === "last");
      for (
        const [device, texts] of [[erinA, ["m1", "m2", "m3", "last"]], [erinB, [
          "m1",
          "m2",
          "m3",
          "from the laptop",
          "last",
        ]]] as const
      ) {
        for (const text of texts) {
          assert.equal(received(device, "message", (f) => f.text === text).length, 1, text);
        }
      }
      assert.equal(received(frank, "message", (f) => f.text === "from the laptop").length, 1);

      await frank.send({ type: "who" });
      const who = await frank.next("who");
      const erins = (who.users as { name: string }[]).filter((u) => u.name === "erin");
      assert.equal(erins.length, 1);
      assert.equal(who.online, 2);

      // Leaving one node leaves erin online; leaving both takes her offline, once.
      await erinA.close();
      await frank.send({ type: "who" });
      const still = await frank.next("who");
      assert.equal(still.online, 2);
      await erinB.close();
      await frank.next("presence", isPresence("erin", "offline"));
      await frank.send({ type: "who" });
      await frank.next("who");
      assert.equal(received(frank, "presence", isPresence("erin", "online")).length, 1);
      assert.equal(received(frank, "presence", isPresence("erin", "offline")).length, 1);
      await frank.close();
    } finally {
      await nodes.close();
    }
  });

  test("a hint that comes after the device's catch-up read the message delivers nothing twice", async (bus) => {
    const nodes = await startTwoNodes(bus);
    // Another node's late hint, published by hand: the message is in the store already.
    const late = await bus.join("node-late");
    try {
      const gus = await signIn(nodes.a, "gus", "g1");
      await signIn(nodes.b, "hal", "h1").then((p) => p.close());
      await gus.next("presence", isPresence("hal", "offline"));
      await gus.send({ type: "send", to: "hal", text: "while you were away" });
      const sent = await gus.next("sent");
      // hal's device catches up on node b, reading the message from the store.
      const { peer: hal, welcome } = await Peer.signIn(nodes.b, "hal", { device: "h1" });
      assert.equal(welcome.pending, 1);
      const caught = await hal.catchUp();
      assert.deepEqual(caught.map((m) => m.text), ["while you were away"]);
      late.publish({
        kind: "stored",
        conv: "@gus:hal",
        seq: sent.seq,
        id: sent.id,
        sender: "gus",
        lang: "en",
        users: ["hal", "gus"],
        langs: [],
      });
      // Something after it, through the same bus, to know the hint was handled.
      await gus.send({ type: "send", to: "hal", text: "and now" });
      const now = await gus.next("sent");
      await hal.next("message", (f) => f.text === "and now");
      // The hint of a message delivered live, coming again.
      late.publish({
        kind: "stored",
        conv: "@gus:hal",
        seq: now.seq,
        id: now.id,
        sender: "gus",
        lang: "en",
        users: ["hal", "gus"],
        langs: [],
      });
      await gus.send({ type: "send", to: "hal", text: "last" });
      await hal.next("message", (f) => f.text === "last");
      assert.equal(received(hal, "message", (f) => f.text === "while you were away").length, 1);
      assert.equal(received(hal, "message", (f) => f.text === "and now").length, 1);
      await leave(hal, gus);
    } finally {
      await late.close();
      await nodes.close();
    }
  });

  test("messages are translated once for readers on every node", async (bus) => {
    const calls: string[] = [];
    const translator: Translator = {
      name: "google",
      limits: { maxTexts: 128, maxChars: 30_000, concurrency: 4 },
      translate: (request) => {
        calls.push(`${request.target}:${request.texts.join("|")}`);
        return Promise.resolve(request.texts.map((t) => ({ text: `${request.target}(${t})` })));
      },
    };
    const nodes = await startTwoNodes(bus, { translator });
    try {
      const ivy = await signIn(nodes.a, "ivy", "i1");
      const jean = await signIn(nodes.b, "jean", "j1");
      await jean.send({ type: "lang", lang: "fr" });
      await jean.next("lang");
      // ivy's node learns jean's language from the presence jean's node announces.
      await until(() => nodes.a.router.cluster.remote.user("jean")?.lang === "fr", 5000, "fr");
      await ivy.send({ type: "send", to: "jean", text: "good morning" });
      const got = await jean.next("message", (f) => (f.original as Frame)?.text === "good morning");
      assert.equal(got.text, "fr(good morning)");
      await ivy.send({ type: "send", to: "all", text: "hello all" });
      const all = await jean.next("message", (f) => f.to === "all");
      assert.equal(all.text, "fr(hello all)");
      assert.deepEqual(calls, ["fr:good morning", "fr:hello all"]);
      await leave(jean, ivy);
    } finally {
      await nodes.close();
    }
  });

  test("sign-out of a browser login closes its sessions on every node", async (bus) => {
    const nodes = await startTwoNodes(bus);
    try {
      const kim = await signIn(nodes.b, "kim", "k1");
      // The web login that signed kim's session in on node b ends on node a.
      const session = [...nodes.b.router.sessionsOf("kim")][0];
      session.webLogin = "hash-of-a-web-login";
      nodes.a.router.closeWebLogin("hash-of-a-web-login", "signed out");
      const bye = await kim.next("bye");
      assert.equal(bye.reason, "signed out");
      await kim.sock.waitClosed();
    } finally {
      await nodes.close();
    }
  });

  test("a node that dies takes its users offline on the other within 10 s", async (bus) => {
    const nodes = await startTwoNodes(bus);
    try {
      const lea = await signIn(nodes.a, "lea", "l1");
      const max = await signIn(nodes.b, "max", "m1");
      await lea.next("presence", isPresence("max", "online"));
      // No goodbye, no more heartbeats: as a node killed would.
      await nodes.b.router.cluster.dieForTests();
      await lea.next("presence", isPresence("max", "offline"), 10_000);
      await lea.send({ type: "who" });
      const who = await lea.next("who");
      assert.equal(who.online, 1);
      await Promise.all([lea.close(), max.close()]);
    } finally {
      await nodes.close();
    }
  });
}
