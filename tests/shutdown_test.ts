/**
 * Stop signals on a real process: a repeated SIGTERM/SIGINT (as `deno task` sends for one
 * Ctrl-C) must not cut the graceful shutdown short; a third one stops at once.
 */
import assert from "node:assert/strict";
import { connectTcp, type ParleyClient } from "../lib/client/mod.ts";
import { createLogger } from "../lib/log.ts";
import { FORCED_EXIT_CODE, watchStopSignals } from "../server/stop_signals.ts";
import { startFakeLibreTranslate } from "./fakes/libretranslate.ts";
import { PASSWORD } from "./helpers.ts";
import { type ServerProcess, spawnServer } from "./process_helpers.ts";

/** Waits until the process has printed a line matching `pattern`. */
async function waitForOutput(server: ServerProcess, pattern: RegExp, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  while (!pattern.test(server.output())) {
    if (Date.now() > until) throw new Error(`no ${pattern} in:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A server whose shutdown takes a few seconds: a message waits for a translation that never
 * comes (the shutdown lets it go out untranslated at the translation timeout, then says bye).
 */
async function slowShutdownServer(dataDir: string) {
  const provider = await startFakeLibreTranslate();
  const server = await spawnServer(dataDir, [
    "--translate-provider",
    "libretranslate",
    "--translate-url",
    provider.url,
    "--translate-timeout",
    "3",
  ]);
  const connect = () => connectTcp({ port: server.tcpPort, verifyIdentity: server.pin });
  const alice = await connect();
  const bob = await connect();
  await alice.register("alice", PASSWORD, "en");
  await bob.register("bob", PASSWORD, "es");
  provider.failNext("hang");
  const sent = await alice.send("bob", "hello");
  assert.equal(sent.status, "delivered");
  return { provider, server, clients: [alice, bob] as ParleyClient[] };
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`a second ${signal} during the shutdown does not cut it short`, async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "parley-twice-" });
    const { provider, server, clients } = await slowShutdownServer(dataDir);
    try {
      const byes = clients.map((c) => c.nextOf("bye", undefined, 15_000));
      const held = clients[1].nextOf("message", undefined, 15_000);
      server.child.kill(signal);
      await waitForOutput(server, new RegExp(`${signal}: shutting down`));
      server.child.kill(signal);
      await waitForOutput(server, new RegExp(`${signal} again: still shutting down`));
      const status = await server.child.status;
      for (const bye of byes) assert.equal((await bye).reason, "server shutting down");
      assert.equal(status.code, 0, server.output());
      assert.equal(status.signal, null);
      // The delayed message still went out (untranslated, at the timeout) before the goodbye.
      assert.equal((await held).text, "hello");
      const files = [...Deno.readDirSync(dataDir)].map((e) => e.name);
      assert.ok(!files.includes("parley.db-wal"), `leftover WAL: ${files}`);
    } finally {
      for (const c of clients) c.close();
      await Promise.all(clients.map((c) => c.closed));
      await provider.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

Deno.test("a third stop signal ends the process at once, and says so", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-thrice-" });
  const { provider, server, clients } = await slowShutdownServer(dataDir);
  try {
    server.child.kill("SIGINT");
    await waitForOutput(server, /SIGINT: shutting down/);
    server.child.kill("SIGINT");
    await waitForOutput(server, /SIGINT again/);
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, FORCED_EXIT_CODE, server.output());
    assert.match(server.output(), /SIGTERM received 3 times: stopping now/);
  } finally {
    for (const c of clients) c.close();
    await Promise.all(clients.map((c) => c.closed));
    await provider.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a shutdown that outlives its grace period is ended, with a log line", async () => {
  const lines: string[] = [];
  const exited = Promise.withResolvers<number>();
  const handlers = new Map<string, () => void>();
  const signals = watchStopSignals({
    logger: createLogger("info", (line) => lines.push(line)),
    graceMs: 20,
    exit: (code) => exited.resolve(code),
    listen: (sig, handler) => {
      handlers.set(sig, handler);
      return () => handlers.delete(sig);
    },
  });
  // The deadline timer is unref'd (it must not keep a finished process alive): hold the loop.
  const hold = setTimeout(() => {}, 5000);
  handlers.get("SIGTERM")!();
  assert.equal(await signals.stopped, "SIGTERM");
  signals.shuttingDown();
  assert.equal(await exited.promise, FORCED_EXIT_CODE);
  assert.match(lines.join("\n"), /the shutdown took longer than 0.02 s: stopping now/);
  signals.dispose();
  clearTimeout(hold);
  assert.equal(handlers.size, 0);
});
