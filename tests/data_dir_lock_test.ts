/** One server per data directory, with real processes. */
import assert from "node:assert/strict";
import { connectTcp } from "../lib/client/mod.ts";
import { PASSWORD } from "./helpers.ts";
import { runServerToExit, spawnServer } from "./process_helpers.ts";

Deno.test("a second server on the same data directory refuses to start, naming the first", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-lock-" });
  try {
    const first = await spawnServer(dataDir);
    try {
      const second = await runServerToExit(dataDir);
      assert.equal(second.code, 1, second.output);
      assert.match(second.output, /parley: the data directory \S+ is in use by another Parley/);
      assert.ok(second.output.includes(dataDir), second.output);
      assert.match(second.output, new RegExp(`\\(pid ${first.child.pid} on host \\S+, since `));
      assert.doesNotMatch(second.output, /Parley listening/);
      // The first one goes on serving, unharmed.
      const alice = await connectTcp({ port: first.tcpPort, verifyIdentity: first.pin });
      try {
        assert.equal((await alice.register("alice", PASSWORD)).user, "alice");
      } finally {
        alice.close();
        await alice.closed;
      }
    } finally {
      assert.equal((await first.stop("SIGTERM")).code, 0);
    }
    // A clean exit lets the next one in.
    const third = await spawnServer(dataDir);
    await third.stop("SIGTERM");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("the data directory lock dies with a SIGKILLed server: the next one starts", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-lock-" });
  try {
    const first = await spawnServer(dataDir);
    const alice = await connectTcp({ port: first.tcpPort, verifyIdentity: first.pin });
    try {
      await alice.register("alice", PASSWORD);
    } finally {
      alice.close();
      await alice.closed;
    }
    assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL");
    const second = await spawnServer(dataDir);
    try {
      const back = await connectTcp({ port: second.tcpPort, verifyIdentity: second.pin });
      try {
        assert.equal((await back.login("alice", PASSWORD)).user, "alice");
      } finally {
        back.close();
        await back.closed;
      }
      // And it holds the directory now, in its turn.
      const third = await runServerToExit(dataDir);
      assert.equal(third.code, 1, third.output);
      assert.match(third.output, new RegExp(`in use by another Parley \\(pid ${second.child.pid}`));
    } finally {
      await second.stop("SIGTERM");
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
