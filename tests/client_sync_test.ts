/**
 * The shared protocol client with a device: catch-up acknowledged page by page, live messages
 * acknowledged by seq, so a device that comes back gets each message once.
 */
import assert from "node:assert/strict";
import { ReconnectingClient } from "../lib/client/reconnect.ts";
import { TcpChannel } from "../lib/client/tcp_channel.ts";
import { PASSWORD, withServer } from "./helpers.ts";

Deno.test("a device's live messages are acknowledged by seq: the next sign-in has nothing to catch up", () =>
  withServer(async (server) => {
    const bob = await server.user("bob");
    const alice = await server.client();
    await alice.register("alice", PASSWORD, undefined, "alice-laptop");
    assert.equal(alice.welcome?.device, "alice-laptop");
    const sent = await bob.send("alice", "live");
    await alice.nextOf("message", (m) => m.text === "live");
    // The acknowledgement goes about a second later, while messages arrive.
    const acked = await alice.nextOf("acked", (a) => (a.cursor ?? 0) >= sent.seq!, 5000);
    assert.equal(acked.cursor, sent.seq);
    await alice.quit();

    const again = await server.client();
    const welcome = await again.login("alice", PASSWORD, undefined, "alice-laptop");
    assert.equal(welcome.cursor, sent.seq);
    assert.equal(welcome.pending, 0);
    await again.quit();
  }));

Deno.test("a reconnecting device catches up once, in order, and passes its id every time", () =>
  withServer(async (server) => {
    const bob = await server.user("bob");
    await (await server.user("alice")).quit();
    const alice = new ReconnectingClient({
      dial: () => TcpChannel.connect({ port: server.port, verifyIdentity: server.pin }),
      initialDelayMs: 50,
      maxDelayMs: 100,
      pingIntervalMs: 0,
    });
    const texts: string[] = [];
    alice.on((e) => {
      if (e.type === "message") texts.push(`${e.catchup ? "caught up: " : ""}${e.text}`);
    });
    await alice.connect({ name: "alice", password: PASSWORD, device: "alice-term" });
    assert.equal(alice.welcome?.device, "alice-term");

    // The server drops every connection of alice; meanwhile bob writes.
    for (const s of server.router.sessionsOf("alice")) s.close("test");
    for (const text of ["one", "two", "three"]) await bob.send("alice", text);
    const online = Promise.withResolvers<void>();
    const off = alice.on((e) => {
      if (e.type === "synced" && !e.more) online.resolve();
    });
    await online.promise;
    off();
    assert.equal(alice.welcome?.device, "alice-term");
    assert.deepEqual(texts, ["caught up: one", "caught up: two", "caught up: three"]);
    await alice.quit();
  }));
