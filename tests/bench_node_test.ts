/**
 * The Node load generator (bench/node/) speaks Parley's secure protocol with its own code on
 * node:crypto, so it is checked twice: against the test vectors of docs/security.md §13, run by
 * Node itself, and end to end, with the bench's own machinery against a real server (JSON mode
 * over TCP and WebSocket, text mode) and the baselines: everyone signed in, nothing lost.
 */
import assert from "node:assert/strict";
import { computeTestVectors, VECTOR_INPUTS } from "../lib/crypto/test_vectors.ts";
import { toHex } from "../lib/crypto/_encoding.ts";
import { parseOptions } from "../bench/options.ts";
import { runScenario } from "../bench/scenarios.ts";
import { TargetRun } from "../bench/target_run.ts";
import { killAll } from "../bench/children.ts";

const SECURE = new URL("../bench/node/secure.ts", import.meta.url).href;

const hasNode = await new Deno.Command("node", { args: ["--version"], stdout: "null" }).output()
  .then((o) => o.success, () => false);

/** Bundles `source` (TypeScript) for Node and runs it; returns what it printed. */
async function runInNode(source: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/main.ts`, source);
    const bundled = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "deno", "-o", `${dir}/main.mjs`, `${dir}/main.ts`],
      stderr: "piped",
    }).output();
    assert.ok(bundled.success, new TextDecoder().decode(bundled.stderr));
    const run = await new Deno.Command("node", { args: [`${dir}/main.mjs`], stdout: "piped" })
      .output();
    assert.ok(run.success, "node ran the bundle");
    return new TextDecoder().decode(run.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "bench/node/secure.ts, run by Node, reproduces the test vectors of docs/security.md",
  ignore: !hasNode,
  async fn() {
    const v = Object.fromEntries(await computeTestVectors());
    const text = (name: string) => JSON.parse(v[name]) as string;
    const inputs = {
      secret: toHex(VECTOR_INPUTS.clientEphemeralSecret),
      nonce: toHex(VECTOR_INPUTS.clientNonce),
      serverHello: text("server_hello"),
      fingerprint: text("server_fingerprint"),
      frames: VECTOR_INPUTS.clientFrames,
      serverSealed: text("frame_s2c_0_sealed"),
    };
    const out = await runInNode(`
      import { Buffer } from "node:buffer";
      import { ClientHandshake } from ${JSON.stringify(SECURE)};
      const i = ${JSON.stringify(inputs)};
      const hs = new ClientHandshake({
        ephemeralSecret: Buffer.from(i.secret, "hex"),
        nonce: Buffer.from(i.nonce, "hex"),
      });
      const session = hs.finish(i.serverHello, i.fingerprint);
      let refused = "";
      try {
        new ClientHandshake().finish(i.serverHello, "SHA256:" + "A".repeat(43));
      } catch (err) {
        refused = err.message;
      }
      console.log(JSON.stringify({
        hello: hs.hello,
        sealed: i.frames.map((f) => session.seal(f)),
        opened: session.open(i.serverSealed),
        refused,
      }));
    `);
    const got = JSON.parse(out);
    assert.equal(got.hello, text("client_hello"));
    assert.deepEqual(got.sealed, [text("frame_c2s_0_sealed"), text("frame_c2s_1_sealed")]);
    assert.deepEqual(got.opened, [...VECTOR_INPUTS.serverBatch]);
    // A fresh hello is not the transcript the server signed: the check refuses it.
    assert.match(got.refused, /signature|identity/);
  },
});

/** Runs a small broadcast on `target` with the Node generator; returns its result. */
async function smallRun(target: "parley" | "baseline", transport: string) {
  const opts = parseOptions([
    "broadcast",
    ...["--clients", "6", "--senders", "2", "--rate", "5", "--duration", "1"],
    ...["--transport", transport, "--generator", "node"],
  ]);
  assert.ok(opts !== "help");
  const run = await TargetRun.start(target, opts, Date.now() + 120_000);
  try {
    await runScenario(run, opts);
  } finally {
    await run.stop();
    killAll();
  }
  return run.result;
}

for (const transport of ["mixed", "text"]) {
  Deno.test({
    name: `bench, Node generator: Parley over ${transport}, everyone signed in, nothing lost`,
    ignore: !hasNode,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const result = await smallRun("parley", transport);
      assert.equal(result.error, undefined);
      assert.equal(result.connect?.ok, 6, `signed in: ${result.connect?.errors}`);
      const phase = result.phases[0];
      assert.equal(phase.accepted, 10, "every send answered");
      assert.equal(phase.expected, 50, "10 sends to 5 others");
      assert.equal(phase.delivered, 50);
      assert.equal(phase.lost + phase.duplicates + phase.foreign, 0);
      assert.equal(phase.serverRecipients, 50, "the server's own count agrees");
    },
  });
}

Deno.test({
  name: "bench, Node generator: the baseline over WebSocket, nothing lost",
  ignore: !hasNode,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const result = await smallRun("baseline", "ws");
    assert.equal(result.connect?.ok, 6);
    assert.equal(result.phases[0].delivered, 50);
    assert.equal(result.phases[0].lost, 0);
  },
});
