/**
 * A full disk, for real: a server process whose data directory is a small tmpfs, filled up with
 * a filler file while it runs, then given room again.
 */
import assert from "node:assert/strict";
import { build } from "../build.ts";
import {
  connectTcp,
  type ReconnectEvent,
  ReconnectingClient,
  ServerError,
  TcpChannel,
} from "../lib/client/mod.ts";
import { ERROR_CODES } from "../lib/errors.ts";
import { PASSWORD } from "./helpers.ts";
import { spawnServer } from "./process_helpers.ts";
import { apiLogin } from "./web_helpers.ts";
import { listFiles, randomBytes, upload } from "./file_helpers.ts";

/** Room for the store, the keys and the WAL of a few messages; the filler takes the rest. */
const TMPFS_SIZE = "4m";

async function run(cmd: string, ...args: string[]): Promise<{ ok: boolean; text: string }> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const decoder = new TextDecoder();
    return { ok: out.success, text: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
  } catch (err) {
    return { ok: false, text: (err as Error).message };
  }
}

/** Mounts a fresh tmpfs of `size`; undefined when this machine does not let us (not root). */
async function mountTmpfs(size: string): Promise<string | { skip: string }> {
  const dir = await Deno.makeTempDir({ prefix: "parley-full-" });
  const mounted = await run("mount", "-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir);
  if (mounted.ok) return dir;
  await Deno.remove(dir);
  return { skip: `cannot mount a tmpfs (needs root): ${mounted.text.trim()}` };
}

async function unmount(dir: string): Promise<void> {
  const out = await run("umount", dir);
  if (!out.ok) throw new Error(`umount ${dir} failed: ${out.text}`);
  await Deno.remove(dir);
}

/** Writes `path` until the file system has no room left. */
async function fillDisk(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true });
  try {
    const chunk = new Uint8Array(4096);
    while (true) await file.write(chunk);
  } catch (err) {
    if (!String((err as Error).message).includes("No space left")) throw err;
  } finally {
    file.close();
  }
}

async function health(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/healthz`);
  return { status: res.status, body: await res.json() };
}

// Probed once, so a machine without the right says why instead of failing.
const probe = await mountTmpfs("1m");
const skip = typeof probe === "string" ? (await unmount(probe), undefined) : probe.skip;
if (skip) console.warn(`disk_full_test skipped: ${skip}`);

Deno.test({
  name: "a full disk: the send is refused as storage_full, /healthz says 503, and both recover",
  ignore: skip !== undefined,
  async fn() {
    // The HTTP listener (and so /healthz) needs the browser assets.
    await build({ ifStale: true, quiet: true });
    const dir = await mountTmpfs(TMPFS_SIZE);
    assert.equal(typeof dir, "string");
    const dataDir = dir as string;
    const filler = `${dataDir}/filler`;
    const server = await spawnServer(dataDir, ["--log-level", "info"]);
    const alice = await connectTcp({ port: server.tcpPort, verifyIdentity: server.pin });
    const bob = await connectTcp({ port: server.tcpPort, verifyIdentity: server.pin });
    const carol = await connectTcp({ port: server.tcpPort, verifyIdentity: server.pin });
    // Parley's own client, which keeps a message the server could not store and retries it.
    const dave = new ReconnectingClient({
      pingIntervalMs: 0,
      sendRetry: { initialDelayMs: 100, maxDelayMs: 200 },
      dial: () => TcpChannel.connect({ port: server.tcpPort, verifyIdentity: server.pin }),
    });
    const retrying: ReconnectEvent[] = [];
    dave.on((e) => e.type === "retrying" && retrying.push(e));
    try {
      assert.ok(server.httpUrl, `no HTTP listener:\n${server.output()}`);
      await alice.register("alice", PASSWORD);
      await bob.register("bob", PASSWORD);
      await dave.connect({ name: "dave", password: PASSWORD }, { register: true });
      await bob.quit();
      assert.equal((await alice.send("bob", "before", "c0")).status, "stored");
      assert.equal((await health(server.httpUrl)).status, 200);

      await fillDisk(filler);
      for (const [text, cid] of [["lost?", "c1"], ["lost too?", "c2"]]) {
        const refused = await alice.send("bob", text, cid).then(
          () => assert.fail("a send to an offline user was stored on a full disk"),
          (err) => err,
        );
        assert.ok(refused instanceof ServerError, String(refused));
        assert.equal(refused.code, "storage_full");
        assert.match(refused.message, /not stored: the server's disk is full; try again later/i);
      }
      // The client keeps it, and tries again and again while the disk stays full.
      const kept = dave.send("bob", "kept for later");
      while (retrying.length < 2) await new Promise((r) => setTimeout(r, 50));
      // Registration is a write too, refused the same way.
      const registration = await carol.register("carol", PASSWORD).then(
        () => assert.fail("registered on a full disk"),
        (err) => err,
      );
      assert.equal((registration as ServerError).code, "storage_full");
      // So is a browser sign-in: its session must be stored to be of any use.
      const browser = await apiLogin(server.httpUrl, { name: "alice", password: PASSWORD });
      assert.equal(browser.res.status, 503);
      assert.equal((browser.body.error as Record<string, unknown>).code, "storage_full");
      assert.equal(browser.cookie, undefined);
      const down = await health(server.httpUrl);
      assert.equal(down.status, 503);
      assert.equal(down.body.status, "unavailable");
      const store = down.body.store as Record<string, unknown>;
      assert.equal(store.ok, false);
      assert.equal(store.writable, false);
      assert.equal(store.error, ERROR_CODES.storage_full);
      assert.equal(typeof store.since, "string");

      // Room again: the very first write after it goes through, on the same connection.
      await Deno.remove(filler);
      const sent = await alice.send("bob", "lost?", "c1");
      assert.equal(sent.status, "stored");
      const up = await health(server.httpUrl);
      assert.equal(up.status, 200);
      assert.equal((up.body.store as Record<string, unknown>).writable, true);
      assert.equal((await carol.register("carol", PASSWORD)).user, "carol");
      assert.equal((await kept).status, "stored");

      // Nothing refused was kept, nothing confirmed was lost.
      const back = await connectTcp({ port: server.tcpPort, verifyIdentity: server.pin });
      try {
        assert.equal((await back.login("bob", PASSWORD)).pending, 3);
        const texts = [];
        for (let i = 0; i < 3; i++) texts.push((await back.nextOf("message")).text);
        // The retry may have gone before or after alice's resend.
        assert.deepEqual(texts.toSorted(), ["before", "kept for later", "lost?"]);
      } finally {
        back.close();
        await back.closed;
      }

      // One episode, two log lines: however many writes were refused in it.
      const log = server.output();
      assert.equal(log.match(/the store cannot write: the disk is full/g)?.length, 1, log);
      assert.equal(log.match(/the store writes again/g)?.length, 1, log);
      assert.doesNotMatch(log, /command failed|ERROR +http request failed/);
    } finally {
      await dave.quit();
      for (const c of [alice, bob, carol]) c.close();
      await Promise.all([alice.closed, bob.closed, carol.closed]);
      await Deno.remove(filler).catch(() => {});
      await server.stop("SIGTERM");
      await unmount(dataDir);
    }
  },
});

Deno.test({
  name:
    "a full disk: an upload is refused as storage_full, nothing of it is left, and it works again",
  ignore: skip !== undefined,
  async fn() {
    await build({ ifStale: true, quiet: true });
    const dir = await mountTmpfs(TMPFS_SIZE);
    assert.equal(typeof dir, "string");
    const dataDir = dir as string;
    const filler = `${dataDir}/filler`;
    const server = await spawnServer(dataDir, ["--log-level", "info"]);
    try {
      const base = server.httpUrl!;
      assert.ok(base, `no HTTP listener:\n${server.output()}`);
      const { cookie } = await apiLogin(base, {
        name: "alice",
        password: PASSWORD,
        register: true,
      });
      await fillDisk(filler);
      const refused = await upload(base, cookie, "photo.bin", randomBytes(512 * 1024));
      assert.equal(refused.status, 503);
      assert.deepEqual(refused.body.error, {
        code: "storage_full",
        message: "The server's disk is full; try again later.",
      });
      assert.deepEqual(await listFiles(`${dataDir}/files/tmp`), []);
      await Deno.remove(filler);
      const stored = await upload(base, cookie, "photo.bin", randomBytes(512 * 1024));
      assert.equal(stored.status, 201);
      assert.doesNotMatch(server.output(), /ERROR +http request failed/);
    } finally {
      await Deno.remove(filler).catch(() => {});
      await server.stop("SIGTERM");
      await unmount(dataDir);
    }
  },
});
