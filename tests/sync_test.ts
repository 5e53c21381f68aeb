/**
 * Issue 15, the server side: one message log under every private and room message; devices with
 * cursors and a catch-up; history pages; read markers and receipts. Real sockets, a real SQLite
 * file.
 */
import assert from "node:assert/strict";
import type { MessageEvent } from "../lib/protocol/types.ts";
import { startServer, type TestServer } from "./helpers.ts";
import { Peer } from "./sync_helpers.ts";

async function registerAll(server: TestServer, ...names: string[]): Promise<void> {
  for (const name of names) (await server.user(name)).close();
}

Deno.test("a private message is stored once, reaches the recipient and the sender's other device, with its seq", async () => {
  const server = await startServer();
  try {
    await registerAll(server, "alice", "bob");
    const a1 = (await Peer.signIn(server, "alice", { device: "a-laptop" })).peer;
    await a1.catchUp();
    const a2 = (await Peer.signIn(server, "alice", { device: "a-phone" })).peer;
    await a2.catchUp();
    const bob = (await Peer.signIn(server, "bob", { device: "b-1" })).peer;
    await bob.catchUp();
    await a1.send({ type: "send", to: "bob", text: "hi bob", cid: "c1" });
    const sent = await a1.next("sent");
    assert.equal(sent.status, "delivered");
    assert.equal(typeof sent.seq, "number");
    const got = await bob.next("message");
    assert.equal(got.seq, sent.seq);
    assert.equal(got.text, "hi bob");
    const mirrored = await a2.next("message");
    assert.deepEqual([mirrored.from, mirrored.to, mirrored.seq], ["alice", "bob", sent.seq]);
    // The same cid again: stored once.
    await a1.send({ type: "send", to: "bob", text: "hi bob", cid: "c1" });
    const again = await a1.next("sent");
    assert.equal(again.duplicate, true);
    assert.equal(again.seq, sent.seq);
    assert.equal((await server.store.history("@alice:bob", undefined, 10)).length, 1);
    await Promise.all([a1.close(), a2.close(), bob.close()]);
  } finally {
    await server.close({ removeData: true });
  }
});

Deno.test("a device that comes back catches up exactly once, in order, while another device stayed online", async () => {
  const server = await startServer({ limits: { ratePerSec: 1000, rateBurst: 1000 } });
  try {
    await registerAll(server, "alice", "bob");
    const laptop = (await Peer.signIn(server, "bob", { device: "laptop" })).peer;
    await laptop.catchUp();
    let phone = (await Peer.signIn(server, "bob", { device: "phone" })).peer;
    await phone.catchUp();
    await phone.close();
    const alice = (await Peer.signIn(server, "alice", { device: "a" })).peer;
    await alice.catchUp();
    const seqs: number[] = [];
    for (let i = 0; i < 130; i++) {
      await alice.send({ type: "send", to: "bob", text: `m${i}`, cid: `c${i}` });
      seqs.push((await alice.next("sent")).seq as number);
    }
    // The laptop stays online, gets them live and acknowledges them.
    let last = 0;
    while (last < seqs.at(-1)!) last = (await laptop.next("message")).seq as number;
    await laptop.send({ type: "ack", upTo: last });
    await laptop.next("acked");
    // The phone comes back: all 130 in order, once, in two pages, though the laptop has them.
    const back = await Peer.signIn(server, "bob", { device: "phone" });
    phone = back.peer;
    assert.equal(back.welcome.pending, 130);
    assert.equal(back.welcome.device, "phone");
    assert.equal(back.welcome.seq, seqs.at(-1));
    const caught = await phone.catchUp();
    assert.deepEqual(caught.map((m) => m.seq), seqs);
    assert.ok(caught.every((m) => m.catchup === true));
    await phone.close();
    // And again: nothing, it acknowledged.
    const third = await Peer.signIn(server, "bob", { device: "phone" });
    assert.equal(third.welcome.pending, 0);
    assert.deepEqual(await third.peer.catchUp(), []);
    await Promise.all([third.peer.close(), laptop.close(), alice.close()]);
  } finally {
    await server.close({ removeData: true });
  }
});

Deno.test("history pages go back in order with no gaps or repeats, and only to those in the conversation", async () => {
  const server = await startServer({ limits: { ratePerSec: 1000, rateBurst: 1000 } });
  try {
    await registerAll(server, "alice", "bob", "carol");
    const alice = (await Peer.signIn(server, "alice")).peer;
    const sent: number[] = [];
    for (let i = 0; i < 23; i++) {
      await alice.send({ type: "send", to: "bob", text: `line ${i}` });
      sent.push((await alice.next("sent")).seq as number);
    }
    const bob = (await Peer.signIn(server, "bob")).peer;
    const seen: number[] = [];
    let before: number | undefined;
    while (true) {
      await bob.send({ type: "history", with: "@alice", limit: 10, ...(before ? { before } : {}) });
      const page = await bob.next("history");
      const messages = page.messages as MessageEvent[];
      assert.equal(page.with, "@alice");
      const seqs = messages.map((m) => m.seq!);
      assert.deepEqual(seqs, seqs.toSorted((x, y) => x - y), "oldest first");
      seen.unshift(...seqs);
      if (!page.more) break;
      before = seqs[0];
    }
    assert.deepEqual(seen, sent);
    await bob.send({ type: "history", with: "@nobody" });
    assert.equal((await bob.next("error")).code, "no_such_user");
    await Promise.all([alice.close(), bob.close()]);
  } finally {
    await server.close({ removeData: true });
  }
});
