/**
 * Two nodes of one service in this process: two routers with their own TCP listeners sharing one
 * store and one bus. Users on different nodes must see one server. Each bus implementation's
 * test file runs these with `runClusterScenarios`.
 */
import assert from "node:assert/strict";
import { presenceNames } from "../lib/protocol/presence_summary.ts";
import type { Limits } from "../lib/router/mod.ts";
import type { Translator } from "../lib/translate/translator.ts";
import type { BusCluster } from "./bus_conformance.ts";
import { startServer, type TestServer, textAccepted, textRefused, until } from "./helpers.ts";
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
  options: { heartbeatMs?: number; translator?: Translator; limits?: Partial<Limits> } = {},
): Promise<TwoNodes> {
  const a = await startServer({
    bus: await bus.join("node-a"),
    heartbeatMs: options.heartbeatMs,
    translator: options.translator,
    limits: options.limits,
  });
  const b = await startServer({
    bus: await bus.join("node-b"),
    heartbeatMs: options.heartbeatMs,
    translator: options.translator,
    limits: options.limits,
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

/** Online/offline of `user`: alone, or among the `users` of one round of presence. */
const isPresence = (user: string, state: string) => (f: Frame) =>
  presenceNames(f as { user?: string; users?: string[] }).includes(user) && f.state === state &&
  f.to === undefined;

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

const OFFER =
  "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
const ANSWER = OFFER.replace("o=- 1 2", "o=- 3 4");
const CANDIDATE = {
  candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
  sdpMid: "0",
  sdpMLineIndex: 0,
};

/** Says this session takes calls. */
async function takeCalls(peer: Peer): Promise<void> {
  await peer.send({ type: "calls", on: true });
  await peer.next("calls");
}

/** Until `node` knows, from the others' presence, that `user` takes calls there (or not). */
function seesTaker(node: TestServer, user: string, on = true): Promise<void> {
  const remote = node.router.cluster.remote;
  return until(() => (remote.callNodes(user).length > 0) === on, 5000, `${user} takes calls`);
}

/** Rings `to` from `peer`; returns the caller's answer (`ringing`, or `ended`). */
async function ring(peer: Peer, to: string, cid: string): Promise<Frame> {
  await peer.send({ type: "call_ring", to, media: "video", cid });
  return await peer.next("call", (f) => f.cid === cid);
}

/** Sends a call frame with `cid`; returns its answer (a `call` event or an `error`). */
async function act(peer: Peer, frame: Frame, cid: string): Promise<Frame> {
  await peer.send({ ...frame, cid });
  const line = await peer.sock.waitFor(`"cid":"${cid}"`);
  return JSON.parse(line) as Frame;
}

const isCall = (id: unknown, state: string) => (f: Frame) => f.call === id && f.state === state;

/** The call entries (`message` with `call`) a peer received so far. */
const entries = (peer: Peer) => received(peer, "message", (f) => f.call !== undefined);

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

  test("a file shared on one node reaches a reader on the other with its file", async (bus) => {
    const nodes = await startTwoNodes(bus);
    try {
      const alice = await signIn(nodes.a, "alice", "a1");
      const bob = await signIn(nodes.b, "bob", "b1");
      await alice.next("presence", isPresence("bob", "online"));
      // The upload itself is HTTP (tests/files_test.ts); its record is what the message names.
      await nodes.a.store.putFile({
        id: "file-1",
        name: "plan.png",
        type: "image/png",
        size: 1234,
        width: 40,
        height: 30,
        address: "addr-1",
        ownerKey: "alice",
        createdAt: Date.now(),
      });
      await alice.send({ type: "send", to: "bob", text: "the plan", file: "file-1", cid: "f1" });
      assert.equal((await alice.next("sent")).status, "delivered");
      const got = await bob.next("message", (f) => f.text === "the plan");
      assert.deepEqual(got.file, {
        id: "file-1",
        name: "plan.png",
        type: "image/png",
        size: 1234,
        width: 40,
        height: 30,
      });
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

  test("a call rings devices on both nodes, is answered on the other node, and its signals cross", async (bus) => {
    const nodes = await startTwoNodes(bus);
    try {
      const alice = await signIn(nodes.a, "alice", "a1");
      const bobA = await signIn(nodes.a, "bob", "b-laptop");
      const bobB = await signIn(nodes.b, "bob", "b-phone", true);
      for (const p of [alice, bobA, bobB]) await takeCalls(p);
      await seesTaker(nodes.a, "bob");

      const ringing = await ring(alice, "bob", "r1");
      assert.equal(ringing.state, "ringing");
      const id = ringing.call;
      // Both of bob's devices ring, on each node.
      for (const p of [bobA, bobB]) {
        assert.equal((await p.next("call", isCall(id, "incoming"))).with, "alice");
      }
      // The device on the other node answers: it hears `accepted` with its cid; the one on the
      // caller's node stops ringing; alice hears it.
      const accepted = await act(bobB, { type: "call_accept", call: id }, "acc");
      assert.deepEqual([accepted.type, accepted.state, accepted.with], [
        "call",
        "accepted",
        "alice",
      ]);
      assert.equal((await bobA.next("call", isCall(id, "ended"))).reason, "answered_elsewhere");
      assert.equal((await alice.next("call", isCall(id, "accepted"))).with, "bob");
      const late = await act(bobA, { type: "call_accept", call: id }, "late");
      assert.deepEqual([late.type, late.code], ["error", "call_state"]);

      // The offer reaches the answering device on the other node, the answer and ICE come back.
      await alice.send({ type: "call_offer", call: id, sdp: OFFER });
      assert.equal((await bobB.next("call_offer")).sdp, OFFER);
      await bobB.send({ type: "call_answer", call: id, sdp: ANSWER });
      assert.equal((await alice.next("call_answer")).sdp, ANSWER);
      await bobB.send({ type: "call_ice", call: id, candidate: CANDIDATE });
      assert.deepEqual((await alice.next("call_ice")).candidate, CANDIDATE);
      await alice.send({ type: "call_ice", call: id, candidate: CANDIDATE });
      assert.deepEqual((await bobB.next("call_ice")).candidate, CANDIDATE);
      // A refusal of a frame from the other node comes back to it, with its cid.
      const early = await act(bobB, { type: "call_offer", call: id, sdp: OFFER }, "o2");
      assert.deepEqual([early.type, early.code], ["error", "call_state"]);
      assert.equal(received(bobA, "call_offer").length, 0);

      // Hanging up on the other node ends the call for both.
      const hung = await act(bobB, { type: "call_hangup", call: id }, "h");
      assert.deepEqual([hung.state, hung.reason], ["ended", "hangup"]);
      assert.equal((await alice.next("call", isCall(id, "ended"))).reason, "hangup");

      // One entry, on every device, whichever node it is on.
      for (const p of [alice, bobA, bobB]) {
        const entry = await p.next("message", (f) => f.call !== undefined);
        assert.deepEqual([entry.from, entry.to], ["alice", "bob"]);
        assert.equal((entry.call as { outcome: string }).outcome, "ended");
      }
      // Something after it through the bus: by then a second copy would have come.
      await alice.send({ type: "send", to: "bob", text: "after the call" });
      await bobB.next("message", (f) => f.text === "after the call");
      await bobA.next("message", (f) => f.text === "after the call");
      for (const p of [alice, bobA, bobB]) assert.equal(entries(p).length, 1);
      await alice.send({ type: "history", with: "@bob" });
      const history = await alice.next("history");
      const logged = (history.messages as Frame[]).filter((m) => m.call !== undefined);
      assert.equal(logged.length, 1);
      // Neither is in a call any longer, as both nodes see it.
      await until(() => !nodes.a.router.cluster.remote.inCall("bob"), 5000, "bob free");
      await bobB.close();
      await leave(bobA, alice);
    } finally {
      await nodes.close();
    }
  });

  test("busy, declined and calls_unavailable across nodes", async (bus) => {
    const nodes = await startTwoNodes(bus);
    try {
      const carol = await signIn(nodes.a, "carol", "c1");
      const dave = await signIn(nodes.b, "dave", "d1");
      const erin = await signIn(nodes.b, "erin", "e1");
      for (const p of [carol, dave, erin]) await takeCalls(p);
      await seesTaker(nodes.a, "dave");
      await seesTaker(nodes.b, "carol");

      // carol (node a) and dave (node b) are in a call.
      const first = (await ring(carol, "dave", "r1")).call;
      await dave.next("call", isCall(first, "incoming"));
      await act(dave, { type: "call_accept", call: first }, "a1");
      await carol.next("call", isCall(first, "accepted"));
      await until(() => nodes.b.router.cluster.remote.inCall("carol"), 5000, "carol in a call");
      // erin, on node b, calls carol on node a: busy; carol gets a missed call.
      const busy = await ring(erin, "carol", "r2");
      assert.deepEqual([busy.state, busy.reason], ["ended", "busy"]);
      // And a caller in a call elsewhere cannot ring: dave's call is held by node a.
      const inCall = await act(dave, { type: "call_ring", to: "erin", media: "audio" }, "r3");
      assert.deepEqual([inCall.type, inCall.code], ["error", "in_call"]);
      await act(carol, { type: "call_hangup", call: first }, "h1");
      await dave.next("call", isCall(first, "ended"));
      await until(() => !nodes.b.router.cluster.remote.inCall("carol"), 5000, "carol free");

      // erin calls carol again; carol declines on node a: both hear it, one entry.
      const second = (await ring(erin, "carol", "r4")).call;
      await carol.next("call", isCall(second, "incoming"));
      const declined = await act(carol, { type: "call_decline", call: second }, "d");
      assert.deepEqual([declined.state, declined.reason], ["ended", "declined"]);
      assert.equal((await erin.next("call", isCall(second, "ended"))).reason, "declined");
      const entry = await carol.next("message", (f) => f.from === "erin" && f.call !== undefined);
      assert.equal((entry.call as { outcome: string }).outcome, "declined");

      // frank, signed in on node b without taking calls, is told a call was tried; carol
      // hears he cannot take one. A user offline everywhere is offline.
      const frank = await signIn(nodes.b, "frank", "f1");
      await carol.next("presence", (f) => f.user === "frank" && f.state === "online");
      const unavailable = await act(carol, { type: "call_ring", to: "frank" }, "r5");
      assert.deepEqual([unavailable.type, unavailable.code], ["error", "calls_unavailable"]);
      const info = await frank.next("info");
      assert.match(info.text as string, /carol tried to call you \(a video call\)/);
      await frank.close();
      await carol.next("presence", (f) => f.user === "frank" && f.state === "offline");
      const offline = await act(carol, { type: "call_ring", to: "frank" }, "r6");
      assert.deepEqual([offline.type, offline.code], ["error", "user_offline"]);

      // A callee whose only ringing device, on the other node, goes away: unreachable.
      const third = (await ring(carol, "dave", "r7")).call;
      await dave.next("call", isCall(third, "incoming"));
      await dave.close();
      assert.equal((await carol.next("call", isCall(third, "ended"))).reason, "unreachable");
      // One entry each for the busy, declined and unreachable calls, whatever node wrote it.
      await carol.send({ type: "send", to: "erin", text: "sync" });
      await erin.next("message", (f) => f.text === "sync");
      assert.deepEqual(
        entries(erin).map((f) => (f.call as { outcome: string }).outcome),
        ["missed", "declined"],
      );
      await leave(erin, carol);
    } finally {
      await nodes.close();
    }
  });

  test("two callers on two nodes ring one person at once: one rings, the other hears busy", async (bus) => {
    const nodes = await startTwoNodes(bus);
    try {
      const mia = await signIn(nodes.a, "mia", "m1");
      const ned = await signIn(nodes.b, "ned", "n1");
      const oli = await signIn(nodes.b, "oli", "o1");
      for (const p of [mia, ned, oli]) await takeCalls(p);
      await seesTaker(nodes.a, "oli");
      // Both rings leave before either node hears of the other's call.
      await Promise.all([
        mia.send({ type: "call_ring", to: "oli", media: "audio", cid: "m" }),
        ned.send({ type: "call_ring", to: "oli", media: "audio", cid: "n" }),
      ]);
      const answers = [
        { peer: mia, id: (await mia.next("call", (f) => f.cid === "m")).call },
        { peer: ned, id: (await ned.next("call", (f) => f.cid === "n")).call },
      ];
      // One hears busy: at once, or as soon as the other node says oli is in a call.
      const ended = (a: { peer: Peer; id: unknown }) =>
        received(a.peer, "call", isCall(a.id, "ended"));
      await until(() => answers.some((a) => ended(a)[0]?.reason === "busy"), 5000, "busy");
      const rings = answers.filter((a) => ended(a).length === 0);
      assert.equal(rings.length, 1);
      await oli.next("call", isCall(rings[0].id, "incoming"));
      await act(oli, { type: "call_decline", call: rings[0].id }, "d");
      await rings[0].peer.next("call", isCall(rings[0].id, "ended"));
      // oli's tab rang once, for the one call.
      assert.equal(received(oli, "call", (f) => f.state === "incoming").length, 1);
      await oli.close();
      const heard = (p: Peer) => received(p, "presence", isPresence("oli", "offline")).length;
      await until(() => heard(mia) + heard(ned) === 2, 10_000, "oli offline");
      await leave(ned, mia);
    } finally {
      await nodes.close();
    }
  });

  test("a node that dies ends its calls on the other node within the presence expiry", async (bus) => {
    const nodes = await startTwoNodes(bus, { heartbeatMs: 200 });
    try {
      const ivy = await signIn(nodes.a, "ivy", "i1");
      const jon = await signIn(nodes.b, "jon", "j1");
      const kay = await signIn(nodes.b, "kay", "k1");
      const lou = await signIn(nodes.a, "lou", "l1");
      for (const p of [ivy, jon, kay, lou]) await takeCalls(p);
      await seesTaker(nodes.a, "jon");
      await seesTaker(nodes.b, "lou");
      // ivy's call (held by node a) with jon on node b; kay's (held by node b) with lou on a.
      const held = (await ring(ivy, "jon", "r1")).call;
      await jon.next("call", isCall(held, "incoming"));
      await act(jon, { type: "call_accept", call: held }, "a1");
      const relayed = (await ring(kay, "lou", "r2")).call;
      await lou.next("call", isCall(relayed, "incoming"));
      await act(lou, { type: "call_accept", call: relayed }, "a2");
      await kay.next("call", isCall(relayed, "accepted"));

      await nodes.b.router.cluster.dieForTests();
      const ended = await ivy.next("call", isCall(held, "ended"), 10_000);
      assert.equal(ended.reason, "disconnected");
      const gone = await lou.next("call", isCall(relayed, "ended"), 10_000);
      assert.equal(gone.reason, "disconnected");
      // Both are free to call again.
      assert.equal(nodes.a.router.calls.book.size, 0);
      assert.equal(nodes.a.router.calls.flags("lou").inCall, undefined);
      // Nothing left on its way to a connection about to close: jon and kay went offline here.
      const wentOffline = (u: string) => received(ivy, "presence", isPresence(u, "offline")).length;
      await until(() => wentOffline("jon") + wentOffline("kay") === 2, 10_000, "offline");
      await leave(jon, kay);
      await leave(ivy, lou);
    } finally {
      await nodes.close();
    }
  });

  test("one address's connections count on every node against its limit", async (bus) => {
    const nodes = await startTwoNodes(bus, { limits: { maxConnectionsPerIp: 3 } });
    const { a, b } = nodes;
    try {
      const onA = [await textAccepted(a), await textAccepted(a)];
      await until(() => b.router.admission.openFrom(LOCAL) === 2, 5000, "b counts a's two");
      await textAccepted(b);
      assert.match(await textRefused(b), PER_IP_3);
      // And a counts b's one: the address holds three in all, wherever it asks.
      await until(() => a.router.admission.openFrom(LOCAL) === 3, 5000, "a counts b's one");
      assert.match(await textRefused(a), PER_IP_3);
      // A connection that ends on one node frees its place on the other.
      await onA[0].closeAndWait();
      await until(() => b.router.admission.openFrom(LOCAL) === 2, 5000, "b hears it ended");
      await textAccepted(b);
      assert.match(await textRefused(b), PER_IP_3);
    } finally {
      await nodes.close();
    }
  });

  test("one address's new connections per minute count on every node", async (bus) => {
    const nodes = await startTwoNodes(bus, { limits: { newConnectionsPerMinute: 4 } });
    const { a, b } = nodes;
    try {
      await textAccepted(a);
      await textAccepted(a);
      await until(() => b.router.admission.openFrom(LOCAL) === 2, 5000, "b counts a's two");
      // a's two spent two of the four on b too.
      await textAccepted(b);
      await textAccepted(b);
      assert.match(await textRefused(b), TOO_FAST_4);
      await until(() => a.router.admission.openFrom(LOCAL) === 4, 5000, "a counts b's two");
      assert.match(await textRefused(a), TOO_FAST_4);
    } finally {
      await nodes.close();
    }
  });

  test("a node that dies stops counting against one address's limit on the other", async (bus) => {
    const nodes = await startTwoNodes(bus, {
      heartbeatMs: 200,
      limits: { maxConnectionsPerIp: 2 },
    });
    const { a, b } = nodes;
    try {
      await textAccepted(a);
      await textAccepted(a);
      await until(() => b.router.admission.openFrom(LOCAL) === 2, 5000, "b counts a's two");
      assert.match(await textRefused(b), /^! Too many connections from your address: at most 2 /);
      // No goodbye, no more summaries: as a node killed would. Its connections stop counting.
      await a.router.cluster.dieForTests();
      await until(() => b.router.admission.openFrom(LOCAL) === 0, 10_000, "a's two expire");
      await textAccepted(b);
      await textAccepted(b);
    } finally {
      await nodes.close();
    }
  });
}

/** The address every test client connects from. */
const LOCAL = "127.0.0.1";
const PER_IP_3 = /^! Too many connections from your address: at most 3 at once\.$/;
const TOO_FAST_4 = /^! Too many new connections from your address \(at most 4 a minute\)/;
