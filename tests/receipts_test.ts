/**
 * Receipts and read state across transports: the sender on a WebSocket (the browser's path), the
 * recipient on TCP in JSON mode; a room's read count. Real sockets, a real SQLite file.
 */
import assert from "node:assert/strict";
import { type ParleyClient, SecureChannel, WsChannel } from "../lib/client/mod.ts";
import type { ServerEvent } from "../lib/protocol/types.ts";
import { PASSWORD } from "./helpers.ts";
import { startWebServer, type WebServer } from "./web_helpers.ts";
import { ParleyClient as Client } from "../lib/client/client.ts";

type Of<T extends ServerEvent["type"]> = Extract<ServerEvent, { type: T }>;

/** Signs in over the browser's WebSocket path, with a device. */
async function overWebSocket(server: WebServer, name: string, device: string): Promise<Client> {
  const raw = await WsChannel.open(`ws://127.0.0.1:${server.httpPort}/ws`);
  const client = new Client(await SecureChannel.establish(raw, { verifyIdentity: server.pin }));
  await client.request({ type: "login", name, password: PASSWORD, device }, "welcome");
  await syncedOnce(client);
  return client;
}

/** Signs in over TCP (JSON mode) with a device. */
async function overTcp(server: WebServer, name: string, device: string): Promise<ParleyClient> {
  const client = await server.client();
  await client.request({ type: "login", name, password: PASSWORD, device }, "welcome");
  await syncedOnce(client);
  return client;
}

/** Waits for the end of the catch-up and acknowledges it. */
async function syncedOnce(client: ParleyClient): Promise<void> {
  const synced = await client.next((e) => e.type === "synced") as Of<"synced">;
  await client.request({ type: "ack", upTo: synced.seq }, "acked");
}

function receipt(
  client: ParleyClient,
  where: (r: Of<"receipt">) => boolean,
): Promise<Of<"receipt">> {
  return client.next((e) => e.type === "receipt" && where(e)) as Promise<Of<"receipt">>;
}

Deno.test("a private message shows delivered, then read, to its sender on another transport; not read with receipts off", async () => {
  const server = await startWebServer();
  try {
    for (const name of ["alice", "bob"]) (await server.user(name)).close();
    const alice = await overWebSocket(server, "alice", "alice-browser");
    // Sent while bob is away: stored.
    const first = await alice.request({ type: "send", to: "bob", text: "are you there?" }, "sent");
    assert.equal(first.status, "stored");
    const bob = await overTcp(server, "bob", "bob-terminal");
    // bob's catch-up carried it and he acknowledged it: delivered.
    const delivered = await receipt(alice, (r) => r.state === "delivered");
    assert.deepEqual([delivered.with, delivered.id, delivered.seq], ["bob", first.id, first.seq]);
    // bob reads it (his read marker moves, on all his sessions): read.
    const read = await bob.request({ type: "read", with: "@alice", upTo: first.seq! }, "read");
    assert.deepEqual([read.with, read.readSeq, read.unread], ["@alice", first.seq, 0]);
    const seen = await receipt(alice, (r) => r.state === "read");
    assert.deepEqual([seen.with, seen.id, seen.seq], ["bob", first.id, first.seq]);

    // Live, to bob online: delivered once his device acknowledges it.
    const second = await alice.request({ type: "send", to: "bob", text: "second" }, "sent");
    assert.equal(second.status, "delivered");
    const live = await bob.next((e) => e.type === "message" && !e.catchup) as Of<"message">;
    assert.equal(live.seq, second.seq);
    await bob.request({ type: "ack", upTo: live.seq! }, "acked");
    assert.equal((await receipt(alice, (r) => r.state === "delivered")).seq, second.seq);

    // Receipts off: bob's marker moves, alice is not told; on again, she is.
    assert.equal((await bob.request({ type: "receipts", on: false }, "receipts")).on, false);
    await bob.request({ type: "read", with: "@alice", upTo: second.seq! }, "read");
    await bob.request({ type: "receipts", on: true }, "receipts");
    const third = await alice.request({ type: "send", to: "bob", text: "third" }, "sent");
    await bob.request({ type: "read", with: "@alice", upTo: third.seq! }, "read");
    const next = await receipt(alice, (r) => r.state === "read");
    assert.equal(next.seq, third.seq, "no read receipt for the message read with receipts off");
    // The conversation list agrees: nothing unread for bob.
    const list = await bob.request({ type: "conversations" }, "conversations");
    assert.deepEqual(
      list.conversations.map((c) => [c.with, c.unread, c.readSeq]),
      [["@alice", 0, third.seq]],
    );
    // A history page tells alice how far bob got, so a reloaded page shows the same states.
    const page = await alice.request({ type: "history", with: "@bob" }, "history");
    assert.equal(page.peer?.read, third.seq);
    assert.ok(page.peer!.delivered >= second.seq!, `delivered ${page.peer!.delivered}`);
    // With receipts off, the page says nothing of what bob read.
    await bob.request({ type: "receipts", on: false }, "receipts");
    const quiet = await alice.request({ type: "history", with: "@bob" }, "history");
    assert.equal(quiet.peer?.read, undefined);
    assert.ok(quiet.peer!.delivered >= second.seq!);
    for (const c of [alice, bob]) {
      c.close();
      await c.closed;
    }
  } finally {
    await server.close({ removeData: true });
  }
});

Deno.test("a room message's sender hears how many members read it", async () => {
  const server = await startWebServer();
  try {
    for (const name of ["alice", "bob", "carol"]) (await server.user(name)).close();
    await server.store.createRoom(
      { key: "dev", name: "Dev", topic: "", visibility: "public", createdAt: Date.now() },
      "alice",
    );
    await server.store.joinRoom("dev", "bob");
    await server.store.joinRoom("dev", "carol");
    const alice = await overWebSocket(server, "alice", "a");
    const bob = await overTcp(server, "bob", "b");
    const carol = await overTcp(server, "carol", "c");
    const sent = await alice.request({ type: "send", to: "#dev", text: "shipping at 3" }, "sent");
    assert.equal(sent.to, "#Dev");
    for (const reader of [bob, carol]) {
      const m = await reader.next((e) => e.type === "message") as Of<"message">;
      assert.deepEqual([m.to, m.seq, m.text], ["#Dev", sent.seq, "shipping at 3"]);
      await reader.request({ type: "read", with: "#dev", upTo: m.seq! }, "read");
    }
    // At most one a second per room: the count may come as 1 then 2, or as 2.
    let r = await receipt(alice, (r) => r.readers !== undefined);
    if (r.readers === 1) r = await receipt(alice, (r) => r.readers !== undefined);
    assert.deepEqual([r.with, r.seq, r.readers], ["#Dev", sent.seq, 2]);
    for (const c of [alice, bob, carol]) {
      c.close();
      await c.closed;
    }
  } finally {
    await server.close({ removeData: true });
  }
});
