/**
 * The Node load generator (bench/node/) speaks Parley's secure protocol with its own code on
 * node:crypto, so it is checked twice: against the test vectors of docs/security.md §13, run by
 * Node itself, and end to end, with the bench's own machinery against a real server (JSON mode
 * over TCP and WebSocket, text mode) and the baselines: everyone signed in, nothing lost.
 */
import assert from "node:assert/strict";
import { computeTestVectors, VECTOR_INPUTS } from "../lib/crypto/test_vectors.ts";
import { toHex } from "../lib/crypto/_encoding.ts";
import type { RunReport } from "../bench/report.ts";
import type { TargetResult } from "../bench/target_run.ts";

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

/**
 * Runs the bench itself (`deno run --allow-all bench/main.ts`: it reads /proc, which only
 * --allow-all may) on a small broadcast with the Node generator; returns its JSON report.
 */
async function smallRun(
  transport: string,
  baseline: boolean,
  scenario: string[] = ["broadcast", "--clients", "6", "--senders", "2", "--rate", "5"],
) {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "--allow-all", new URL("../bench/main.ts", import.meta.url).pathname],
        ...scenario,
        ...["--duration", "1"],
        ...["--transport", transport, "--generator", "node", "--out", `${dir}/report.json`],
        ...(baseline ? [] : ["--no-baseline"]),
      ],
      stdout: "piped",
      stderr: "piped",
      // The idle scenario's waits for a memory trim: these runs check its steps, not figures.
      env: { BENCH_SETTLE_MS: "500" },
    }).output();
    const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, `the bench failed:\n${log}`);
    return JSON.parse(await Deno.readTextFile(`${dir}/report.json`)) as RunReport;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Everyone signed in; 10 sends to 5 others each, every one delivered once. */
function assertClean(result: TargetResult | undefined, parley: boolean) {
  assert.ok(result, "the target ran");
  assert.equal(result.error, undefined);
  assert.equal(result.connect?.ok, 6, `signed in: ${result.connect?.errors}`);
  const phase = result.phases[0];
  assert.equal(phase.accepted, 10, "every send answered");
  assert.equal(phase.expected, 50, "10 sends to 5 others");
  assert.equal(phase.delivered, 50);
  assert.equal(phase.lost + phase.duplicates + phase.foreign, 0);
  if (parley) assert.equal(phase.serverRecipients, 50, "the server's own count agrees");
}

Deno.test({
  name:
    "bench, Node generator: Parley over TCP and WebSocket (mixed) and the baseline, nothing lost",
  ignore: !hasNode,
  async fn() {
    const report = await smallRun("mixed", true);
    assertClean(report.parley, true);
    assertClean(report.baseline, false);
  },
});

Deno.test({
  name: "bench, Node generator: Parley in text mode, nothing lost",
  ignore: !hasNode,
  async fn() {
    assertClean((await smallRun("text", false)).parley, true);
  },
});

Deno.test({
  name: "bench idle, Node generator: a second round signs the same users in again on both servers",
  ignore: !hasNode,
  async fn() {
    const report = await smallRun("tcp", true, ["idle", "--clients", "4"]);
    for (const t of [report.parley, report.baseline]) {
      assert.ok(t, "the target ran");
      assert.equal(t.error, undefined);
      assert.equal(t.connect?.ok, 4, `signed in: ${t.connect?.errors}`);
      const warm = t.idle?.warm;
      assert.ok(warm, `${t.target}: a second round was measured`);
      assert.equal(warm.signedIn, 4, `${t.target}: ${warm.errors}`);
      assert.equal(warm.failed, 0);
      assert.equal(warm.stillOpen, 4);
      assert.ok(Number.isFinite(warm.rssPerConnectionKiB));
    }
  },
});
