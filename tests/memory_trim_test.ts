import assert from "node:assert/strict";
import { silentLogger } from "../lib/log.ts";
import { MetricsRegistry } from "../lib/metrics/mod.ts";
import { LIBC_FFI_FLAG, LIBC_PATHS, startMemoryTrim } from "../server/memory_trim.ts";
import { sleep } from "./helpers.ts";

const glibc = Deno.build.os === "linux" &&
  (await new Deno.Command("ldd", { args: ["--version"], stdout: "piped", stderr: "piped" })
    .output().then((o) => /GLIBC|GNU libc/i.test(new TextDecoder().decode(o.stdout)))
    .catch(() => false)) &&
  LIBC_PATHS.some(exists);

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "memory trim: with FFI access to libc it hands memory back on its interval",
  ignore: !glibc,
  fn: async () => {
    const metrics = new MetricsRegistry();
    const trimmer = startMemoryTrim({ logger: silentLogger, metrics, intervalMs: 20 });
    assert.ok(trimmer, `the test task grants ${LIBC_FFI_FLAG}`);
    try {
      // Free some native memory (buffers live outside the JS heap), then trim by hand too.
      let junk: Uint8Array[] | undefined = Array.from(
        { length: 200 },
        () => new Uint8Array(64_000),
      );
      junk = undefined;
      assert.equal(junk, undefined);
      assert.ok(trimmer.trim() >= 0);
      await sleep(120);
      const count = Number(
        metrics.render().match(/^parley_memory_trim_seconds_count (\d+)$/m)?.[1],
      );
      assert.ok(count >= 2, `trims counted: ${count}`);
    } finally {
      trimmer.stop();
    }
    // A stopped trimmer does nothing (its library is closed).
    assert.equal(trimmer.trim(), 0);
  },
});

Deno.test("memory trim: without FFI permission the server runs without it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/no_ffi.ts`;
    const mod = new URL("../server/memory_trim.ts", import.meta.url).href;
    const log = new URL("../lib/log.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { startMemoryTrim } from "${mod}"; import { silentLogger } from "${log}";\n` +
        `console.log(String(startMemoryTrim({ logger: silentLogger })));\n`,
    );
    // `deno run` without --allow-ffi: no prompt (no TTY), no crash, no trimmer.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", script],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "undefined");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
