/**
 * Running out of file descriptors (`ulimit -n`) refuses connections, never ends the process or
 * one of its listeners: a real server under a low limit gets more connections than it has
 * descriptors, on both ports, and serves again once they are gone. Start-up fits
 * --max-connections to the limit and says so.
 */
import assert from "node:assert/strict";
import { build } from "../build.ts";
import { FD_HEADROOM, fitConnections, openFileLimit } from "../server/fd_limit.ts";
import { spawnServer } from "./process_helpers.ts";
import { startServer, TextSocket, within } from "./helpers.ts";
import { acceptLoop } from "../server/accept_loop.ts";
import { createLogger } from "../lib/log.ts";
import { type Config, loadConfig } from "../lib/config.ts";

Deno.test("fd limit: /proc/self/limits is read, and --max-connections fitted to it", () => {
  const limits = [
    "Limit                     Soft Limit           Hard Limit           Units     ",
    "Max processes             63338                63338                processes ",
    "Max open files            400                  4096                 files     ",
  ].join("\n");
  assert.deepEqual(openFileLimit(limits), { soft: 400, hard: 4096 });
  assert.deepEqual(openFileLimit("Max open files unlimited unlimited files"), {
    soft: Infinity,
    hard: Infinity,
  });
  assert.equal(openFileLimit("nothing here"), undefined);
  assert.deepEqual(fitConnections(20_000, 1_048_576, 30), { maxConnections: 20_000 });
  const fitted = fitConnections(20_000, 400, 30);
  assert.equal(fitted.maxConnections, 400 - 30 - FD_HEADROOM);
  assert.match(fitted.warning!, /ulimit -n\) is 400: it holds 242 connections/);
  assert.equal(fitConnections(100, 50, 30).maxConnections, 1);
  // A cut of a few per cent of the default (this machine's 20,000 against it) is only a note
  // (the debug log): the server still admits no more than fit.
  const small = fitConnections(20_000, 20_000, 30);
  assert.equal(small.maxConnections, 20_000 - 30 - FD_HEADROOM);
  assert.equal(small.warning, undefined);
  assert.match(small.note!, /it holds 19842 connections/);
  // The same cut of a number the operator asked for warns.
  const asked = fitConnections(20_000, 20_000, 30, true);
  assert.equal(asked.maxConnections, 20_000 - 30 - FD_HEADROOM);
  assert.equal(asked.note, undefined);
  assert.match(asked.warning!, /it holds 19842 connections, not --max-connections 20000/);
  // A cut of 10% or more of the default warns too; a limit that holds the number asked for says
  // nothing either way.
  assert.match(fitConnections(20_000, 18_000, 30).warning!, /it holds 17842 connections/);
  assert.deepEqual(fitConnections(5_000, 20_000, 30, true), { maxConnections: 5_000 });
});

Deno.test("fd limit: --max-connections or PARLEY_MAX_CONNECTIONS counts as asked for", () => {
  const noEnv = () => undefined;
  const given = (args: string[], env: (name: string) => string | undefined = noEnv) =>
    (loadConfig(args, env) as Config).maxConnectionsGiven ?? false;
  assert.equal(given([]), false);
  assert.equal(given(["--max-connections", "20000"]), true, "even when it is the default");
  assert.equal(given([], (n) => n === "PARLEY_MAX_CONNECTIONS" ? "500" : undefined), true);
  assert.equal(given(["--max-connections-per-ip", "5"]), false);
});

/**
 * Starts a server under `ulimit -n <fdLimit>` with `args`; returns what it printed at start-up.
 */
async function startUpLines(fdLimit: number, args: string[] = []): Promise<string> {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-fd-" });
  const server = await spawnServer(dataDir, args, { fdLimit });
  try {
    return server.output();
  } finally {
    await server.stop("SIGTERM");
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test({
  name: "fd limit: a default start under a limit of 20,000 says nothing; --max-connections warns",
  // Needs a hard limit of 20,000 to set (this machine's; CI's is higher).
  ignore: (openFileLimit()?.hard ?? 0) < 20_000,
  sanitizeResources: false,
  fn: async () => {
    const quiet = await startUpLines(20_000);
    assert.doesNotMatch(quiet, /open-file limit/, quiet);
    const asked = await startUpLines(20_000, ["--max-connections", "20000"]);
    assert.match(
      asked,
      /WARN +the open-file limit \(ulimit -n\) is 20000: it holds \d+ connections/,
    );
    assert.equal(asked.match(/open-file limit/g)?.length, 1, "said once, not by every worker");
  },
});

/**
 * Starts a server under `ulimit -n 200`, opens 300 connections to each of `ports` at once, closes
 * them, and checks that the server lives, greets a text client and answers /healthz.
 */
async function survivesFlood(ports: ("tcp" | "http")[]): Promise<void> {
  await build({ ifStale: true, quiet: true });
  const dataDir = await Deno.makeTempDir({ prefix: "parley-fd-" });
  const server = await spawnServer(dataDir, [
    "--max-connections-per-ip",
    "100000",
    "--connections-per-minute",
    "100000",
  ], { fdLimit: 200 });
  try {
    assert.ok(server.httpPort, "the HTTP port serves");
    assert.match(server.output(), /the open-file limit \(ulimit -n\) is 200/);
    let exited = false;
    server.child.status.then(() => exited = true);
    const conns: Deno.Conn[] = [];
    for (let i = 0; i < 300; i++) {
      for (const which of ports) {
        const port = which === "tcp" ? server.tcpPort : server.httpPort!;
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      }
    }
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(exited, false, `the server exited:\n${server.output()}`);
    for (const c of conns) c.close();
    // Every listener accepts again: a text client is greeted, /healthz answers ok.
    const text = await within(
      (async () => {
        while (true) {
          const t = await TextSocket.connect(server.tcpPort);
          const line = await t.nextLine();
          if (line?.includes("Parley")) return t;
          t.close(); // still refused while the flood's places are given back
          await new Promise((r) => setTimeout(r, 200));
        }
      })(),
      15_000,
      "a greeting after the flood",
    );
    await text.waitFor("Name:");
    text.close();
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/healthz`);
    const health = await res.json();
    assert.equal(res.status, 200, JSON.stringify(health));
    assert.equal(health.status, "ok");
    assert.doesNotMatch(server.output(), /Uncaught|stopped accepting for good/);
  } finally {
    await server.stop("SIGTERM");
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test({
  name: "fd limit: with 200 descriptors, 300 TCP connections leave the TCP listener accepting",
  sanitizeResources: false,
  fn: () => survivesFlood(["tcp"]),
});

Deno.test({
  name: "fd limit: with 200 descriptors, 300 connections on each port leave the server serving",
  sanitizeResources: false,
  fn: () => survivesFlood(["tcp", "http"]),
});

Deno.test("accept loop: failed accepts are retried after a back-off, counted, logged once", async () => {
  const server = await startServer();
  const lines: string[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let failing = 3;
  // The real listener, but its next three accepts fail the way EMFILE does.
  const flaky = {
    accept: () =>
      failing-- > 0
        ? Promise.reject(new Error("Too many open files (os error 24)"))
        : listener.accept(),
  } as unknown as Deno.Listener;
  const accepted = Promise.withResolvers<Deno.Conn>();
  let stopping = false;
  const loop = acceptLoop(flaky, {
    name: "flaky",
    router: server.router,
    logger: createLogger("debug", (line) => lines.push(line)),
    stopping: () => stopping,
    onConnection: (conn) => accepted.resolve(conn),
  });
  try {
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const conn = await within(accepted.promise, 5000, "the accept after three failures");
    conn.close();
    client.close();
    assert.equal(lines.filter((l) => l.includes("flaky accept failed")).length, 1);
    assert.match(lines.join("\n"), /raise `ulimit -n`/);
    assert.match(lines.join("\n"), /flaky accepting again failedAccepts=3/);
    assert.match(
      server.router.metrics.render(),
      /^parley_limit_hits_total\{limit="accept_failed"\} 3$/m,
    );
    assert.deepEqual(server.router.listeners.report().flaky, { ok: true });
  } finally {
    stopping = true;
    listener.close();
    await loop;
    await server.close({ removeData: true });
  }
});
