/**
 * The bench's baseline servers (bench/baseline_*.ts) are the floor Parley is compared with, so
 * they must drop a slow reader as Parley does rather than buffer for it without end.
 */
import assert from "node:assert/strict";
import { RawWebSocket } from "./raw_ws.ts";

/** The WebSocket baselines: Deno's own WebSocket, and npm `ws` on `node:http` (--ws-baseline). */
const BASELINES_WS = {
  deno: ["--allow-net", new URL("../bench/baseline_ws.ts", import.meta.url).pathname],
  "node-ws": [
    "--allow-net",
    "--allow-env",
    "--allow-read",
    new URL("../bench/baseline_node_ws.ts", import.meta.url).pathname,
  ],
};

/** Starts a WebSocket baseline as its own process; resolves with its port once it listens. */
async function startBaselineWs(
  kind: keyof typeof BASELINES_WS = "deno",
): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...BASELINES_WS[kind]],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let port = 0;
  while (!port) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`baseline exited before listening: ${out}`);
    out += value;
    port = Number(out.match(/^baseline listening: ws [\d.]+:(\d+)/m)?.[1] ?? 0);
  }
  return {
    port,
    async stop() {
      lines.cancel().catch(() => {});
      child.kill();
      await child.status;
    },
  };
}

for (const kind of ["deno", "node-ws"] as const) {
  Deno.test(`baseline ws (${kind}): a reader that stops reading is closed as too slow past 1 MiB waiting`, async () => {
    const baseline = await startBaselineWs(kind);
    const stalled = await RawWebSocket.connect(baseline.port, { path: "/" }); // never reads
    const sender = new WebSocket(`ws://127.0.0.1:${baseline.port}/`);
    try {
      await new Promise((resolve, reject) => {
        sender.onopen = resolve;
        sender.onerror = reject;
      });
      // Everyone gets every line, the sender too: it waits for its own echo before it sends the
      // next, so that it is never behind itself.
      const sent = 300;
      const line = "x".repeat(64 * 1024);
      let echo = Promise.withResolvers<void>();
      sender.onmessage = () => echo.resolve();
      for (let i = 0; i < sent; i++) {
        sender.send(line);
        await echo.promise;
        echo = Promise.withResolvers<void>();
      }

      // ~19 MiB went to the stalled reader: far more than its socket's buffers and the 1 MiB cap.
      const { texts, close } = await stalled.readUntilClose(10_000);
      assert.deepEqual(close, { code: 1008, reason: "too slow" }, "closed as too slow");
      assert.ok(texts.length < sent, `${texts.length} of ${sent} lines reached the stalled reader`);
    } finally {
      sender.close();
      stalled.close();
      await baseline.stop();
    }
  });
}

Deno.test("baseline tcp: a reader that stops reading is dropped; the others keep receiving", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", new URL("../bench/baseline_tcp.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let port = 0;
  while (!port) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`baseline exited before listening: ${out}`);
    out += value;
    port = Number(out.match(/^baseline listening: tcp [\d.]+:(\d+)/m)?.[1] ?? 0);
  }
  const stalled = await Deno.connect({ port }); // never reads until the end
  const sender = await Deno.connect({ port });
  try {
    // The sender reads what comes back (its own lines), so only the stalled reader falls behind.
    let echoed = 0;
    (async () => {
      const buf = new Uint8Array(1 << 16);
      while (true) {
        const n = await sender.read(buf).catch(() => null);
        if (n === null) return;
        echoed += n;
      }
    })();
    const line = new TextEncoder().encode("x".repeat(8191) + "\n");
    // 32 MiB: more than the kernel's buffers and the 1 MiB cap together.
    for (let i = 0; i < 4096; i++) {
      let off = 0;
      while (off < line.length) off += await sender.write(line.subarray(off));
    }
    const t0 = Date.now();
    while (echoed < 4096 * 8192 && Date.now() - t0 < 20_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(echoed, 4096 * 8192, "the reading member got every line");
    // The stalled reader's connection was closed: reading it now ends (after what was buffered).
    const buf = new Uint8Array(1 << 20);
    let got = 0;
    let ended = false;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const n = await stalled.read(buf).catch(() => null);
      if (n === null) {
        ended = true;
        break;
      }
      got += n;
    }
    assert.ok(ended, "the stalled reader was dropped");
    assert.ok(got < 4096 * 8192, `${got} bytes reached the stalled reader before the close`);
  } finally {
    for (const conn of [stalled, sender]) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    lines.cancel().catch(() => {});
    child.kill();
    await child.status;
  }
});

Deno.test("baseline ws: a client's hello comes back to it alone; other lines go to everyone", async () => {
  const baseline = await startBaselineWs();
  const open = async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${baseline.port}/`);
    const got: string[] = [];
    let wake = Promise.withResolvers<void>();
    ws.onmessage = (e) => {
      got.push(e.data);
      wake.resolve();
    };
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const next = async () => {
      while (!got.length) {
        await wake.promise;
        wake = Promise.withResolvers<void>();
      }
      return got.shift()!;
    };
    return { ws, next };
  };
  const a = await open();
  const b = await open();
  try {
    // The hello is the baseline's sign-in: a round trip, not news for everyone (a broadcast
    // made N sign-ins N² lines).
    a.ws.send("~hello 0 a");
    assert.equal(await a.next(), "~hello 0 a");
    b.ws.send("~hello 1 b");
    assert.equal(await b.next(), "~hello 1 b");
    a.ws.send("after");
    assert.equal(await b.next(), "after", "b saw no hello but its own");
    assert.equal(await a.next(), "after", "a saw no hello but its own");
  } finally {
    a.ws.close();
    b.ws.close();
    await baseline.stop();
  }
});
