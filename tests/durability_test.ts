import assert from "node:assert/strict";
import { connectTcp } from "../lib/client/mod.ts";
import { PASSWORD } from "./helpers.ts";
import { spawnServer } from "./process_helpers.ts";

Deno.test("a message reported 'stored' survives SIGKILL of the server", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-kill-" });
  try {
    const first = await spawnServer(dataDir);
    const alice = await connectTcp({ port: first.tcpPort, verifyIdentity: first.pin });
    const bob = await connectTcp({ port: first.tcpPort, verifyIdentity: first.pin });
    try {
      await alice.register("alice", PASSWORD);
      await bob.register("bob", PASSWORD);
      await bob.quit();
      const stored = [];
      for (let i = 1; i <= 20; i++) {
        const r = await alice.send("bob", `durable ${i}`, `k${i}`);
        assert.equal(r.status, "stored");
        stored.push(r.id);
      }
      // Killed right after the last "stored": no chance to flush anything more.
      const status = await first.stop("SIGKILL");
      assert.equal(status.signal, "SIGKILL");
    } finally {
      alice.close();
      bob.close();
      await Promise.all([alice.closed, bob.closed]);
    }

    const second = await spawnServer(dataDir);
    const back = await connectTcp({ port: second.tcpPort, verifyIdentity: second.pin });
    try {
      const welcome = await back.login("bob", PASSWORD);
      assert.equal(welcome.pending, 20);
      const texts = [];
      for (let i = 0; i < 20; i++) texts.push((await back.nextOf("message")).text);
      assert.deepEqual(texts, Array.from({ length: 20 }, (_, i) => `durable ${i + 1}`));
      await back.nextOf("acked");
    } finally {
      back.close();
      await back.closed;
      await second.stop("SIGTERM");
    }

    // Acknowledged messages are gone for good, even after another crash.
    const third = await spawnServer(dataDir);
    const again = await connectTcp({ port: third.tcpPort, verifyIdentity: third.pin });
    try {
      assert.equal((await again.login("bob", PASSWORD)).pending, 0);
    } finally {
      again.close();
      await again.closed;
      await third.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("SIGTERM shuts down gracefully: clients are told, the process exits 0", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-term-" });
  try {
    const server = await spawnServer(dataDir);
    const c = await connectTcp({ port: server.tcpPort, verifyIdentity: server.pin });
    try {
      await c.register("erin", PASSWORD);
      const bye = c.nextOf("bye");
      const status = await server.stop("SIGTERM");
      assert.equal((await bye).reason, "server shutting down");
      assert.equal(status.code, 0);
      assert.match(server.output(), /SIGTERM: shutting down/);
      await c.closed;
      // The store was closed cleanly: the WAL was checkpointed away.
      const files = [...Deno.readDirSync(dataDir)].map((e) => e.name);
      assert.ok(files.includes("parley.db"));
      assert.ok(!files.includes("parley.db-wal"), `leftover WAL: ${files}`);
    } finally {
      c.close();
      await c.closed;
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("SIGINT also shuts down gracefully", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-int-" });
  try {
    const server = await spawnServer(dataDir);
    const status = await server.stop("SIGINT");
    assert.equal(status.code, 0);
    assert.match(server.output(), /SIGINT: shutting down/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
