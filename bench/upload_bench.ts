/**
 * `deno task bench upload`: `--users` browser users (signed in over `/api/login`, with their
 * session cookie) each upload a `--mib` MiB file at once over HTTP to a Parley server process.
 * Measured: the aggregate upload rate (MiB/s, all bytes over the time from the first request to
 * the last answer), each upload's time, and the server's resident memory before, at its peak while
 * the uploads stream (sampled every 50 ms) and after: what shows that files stream to disk rather
 * than sit in memory. Standalone: no baseline; the uploaders run in this process.
 *
 *   deno task bench upload [--users 20] [--mib 25] [--timeout 600] [--json]
 *
 * Each file is distinct (no two deduplicate), made of a random 64 KiB block stamped with the user
 * and the chunk number, so producing it costs the bench little CPU beside the server.
 */
import { parseArgs } from "node:util";
import { wholeFlag } from "./whole_flag.ts";
import { rssKiB, statusKiB } from "./proc.ts";
import { LIBC_FFI_FLAG } from "../server/memory_trim.ts";
import { PARLEY_BENCH_ENV } from "./server_proc.ts";
import { scenarioOptions } from "./options.ts";

export const UPLOAD_HELP =
  "deno task bench upload [--users 20] [--mib 25] [--timeout 600] [--json]";

const ROOT = new URL("../", import.meta.url).pathname;
const MIB = 1024 * 1024;
const BLOCK = 64 * 1024;

interface Options {
  users: number;
  mib: number;
  timeoutS: number;
  json: boolean;
}

function parseOptions(args: string[]): Options | "help" {
  const { values: f } = parseArgs({
    args,
    options: {
      users: { type: "string", default: "20" },
      mib: { type: "string", default: "25" },
      timeout: { type: "string", default: "600" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (f.help) return "help";
  return {
    users: wholeFlag("users", f.users),
    mib: wholeFlag("mib", f.mib),
    timeoutS: wholeFlag("timeout", f.timeout),
    json: f.json,
  };
}

/** A Parley server process with its HTTP port, on a fresh data directory. */
async function startServer(dataDir: string, maxFileMib: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      LIBC_FFI_FLAG,
      `${ROOT}main.ts`,
      "--tcp-port",
      "0",
      "--http-port",
      "0",
      "--data-dir",
      dataDir,
      "--max-file-mib",
      String(maxFileMib),
      "--file-quota-mib",
      String(maxFileMib * 2),
    ],
    env: { NO_COLOR: "1", ...PARLEY_BENCH_ENV },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const url = Promise.withResolvers<string>();
  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      if (out.length > 100_000) continue;
      out += decoder.decode(bytes, { stream: true });
      const m = out.match(/Parley listening: http (\S+?)\/? \(browser client\)/);
      if (m && /Parley listening: tcp/.test(out)) url.resolve(m[1]);
    }
  };
  void pump(child.stdout);
  void pump(child.stderr);
  void child.status.then((s) => url.reject(new Error(`server exited (${s.code}):\n${out}`)));
  return { child, url: await url.promise };
}

/** `mib` MiB, distinct for `user`, produced a block at a time. */
function fileStream(user: number, mib: number): ReadableStream<Uint8Array> {
  const block = crypto.getRandomValues(new Uint8Array(BLOCK));
  const blocks = (mib * MIB) / BLOCK;
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i === blocks) return controller.close();
      const chunk = block.slice();
      new DataView(chunk.buffer).setUint32(0, user);
      new DataView(chunk.buffer).setUint32(4, i++);
      controller.enqueue(chunk);
    },
  });
}

async function signUp(base: string, name: string): Promise<string> {
  const res = await fetch(`${base}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, password: "bench password", register: true }),
  });
  await res.body?.cancel();
  const cookie = res.headers.get("set-cookie")?.split(";")[0];
  if (!res.ok || !cookie) throw new Error(`cannot register ${name}: ${res.status}`);
  return cookie;
}

/** Runs the scenario; prints the figures. Returns 0 when every upload was stored. */
export async function runUploadBench(args: string[]): Promise<number> {
  const o = scenarioOptions("upload", UPLOAD_HELP, parseOptions, args);
  if (typeof o === "number") return o;
  const dataDir = await Deno.makeTempDir({ prefix: "parley-bench-upload-" });
  const server = await startServer(dataDir, o.mib);
  const pid = server.child.pid;
  const timer = setTimeout(() => {
    console.error(`bench upload: hard deadline of ${o.timeoutS} s passed; stopping`);
    try {
      server.child.kill("SIGKILL");
    } catch { /* gone */ }
    Deno.exit(1);
  }, o.timeoutS * 1000);
  try {
    const base = server.url;
    const cookies: string[] = [];
    for (let u = 0; u < o.users; u++) cookies.push(await signUp(base, `uploader${u}`));
    const rssBefore = await rssKiB(pid);
    let peak = rssBefore;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rssKiB(pid).catch(() => 0));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const started = performance.now();
    const results = await Promise.all(cookies.map(async (cookie, u) => {
      const t0 = performance.now();
      const res = await fetch(`${base}/api/files?name=upload-${u}.bin`, {
        method: "POST",
        headers: {
          cookie,
          origin: base,
          "content-type": "application/octet-stream",
          "content-length": String(o.mib * MIB),
        },
        body: fileStream(u, o.mib),
      });
      const body = await res.text();
      return { status: res.status, seconds: (performance.now() - t0) / 1000, body };
    }));
    const seconds = (performance.now() - started) / 1000;
    sampling = false;
    await sampler;
    const rssAfter = await rssKiB(pid);
    const hwm = await statusKiB(pid, "VmHWM");
    const stored = results.filter((r) => r.status === 201).length;
    const times = results.map((r) => r.seconds).sort((a, b) => a - b);
    const report = {
      users: o.users,
      mibEach: o.mib,
      stored,
      seconds: round(seconds),
      mibPerSecond: round((stored * o.mib) / seconds),
      uploadSeconds: {
        p50: round(times[Math.floor(times.length / 2)]),
        max: round(times[times.length - 1]),
      },
      serverRssMiB: {
        before: round(rssBefore / 1024),
        peak: round(peak / 1024),
        after: round(rssAfter / 1024),
        highWater: round(hwm / 1024),
      },
      load: (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ").slice(0, 3)
        .join(" "),
      failures: results.filter((r) => r.status !== 201).map((r) => `${r.status} ${r.body}`),
    };
    if (o.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(
        [
          `upload: ${o.users} users × ${o.mib} MiB at once over HTTP (${stored} stored)`,
          `  rate            ${report.mibPerSecond} MiB/s (${report.seconds} s in all)`,
          `  one upload      p50 ${report.uploadSeconds.p50} s, max ${report.uploadSeconds.max} s`,
          `  server RSS      before ${report.serverRssMiB.before} MiB, peak ${report.serverRssMiB.peak} MiB, ` +
          `after ${report.serverRssMiB.after} MiB (high water ${report.serverRssMiB.highWater} MiB)`,
          `  load average    ${report.load}`,
          ...report.failures.map((f) => `  FAILED          ${f}`),
        ].join("\n"),
      );
    }
    return stored === o.users ? 0 : 1;
  } finally {
    clearTimeout(timer);
    try {
      server.child.kill("SIGTERM");
    } catch { /* gone */ }
    await server.child.status;
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
