/**
 * A store written by the release before the message log (tests/stores/release_0.db, made by
 * that release's own code: tests/stores/make_release_0.ts) upgrades in place: accounts, browser
 * sign-ins, cached translations and client ids are kept, and the pending offline messages move
 * into the log and are still delivered, once, in order.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { DataKey } from "../lib/crypto/mod.ts";
import { DATA_KEY_FILE } from "../lib/crypto/key_files.ts";
import { createLogger } from "../lib/log.ts";
import { privateConv, SqliteStore } from "../lib/store/mod.ts";
import { startServer } from "./helpers.ts";

const FIXTURE = new URL("./stores/release_0.db", import.meta.url);
/** The key the fixture was sealed with (see make_release_0.ts). */
const FIXTURE_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
const T = 1_700_000_000_000;

/** A data directory holding a copy of the fixture as `parley.db`, and its key file. */
async function releaseDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "parley-upgrade-" });
  await Deno.copyFile(FIXTURE, `${dir}/parley.db`);
  await Deno.writeTextFile(`${dir}/${DATA_KEY_FILE}`, btoa(String.fromCharCode(...FIXTURE_KEY)), {
    mode: 0o600,
  });
  const db = new DatabaseSync(`${dir}/parley.db`);
  try {
    // Client ids are remembered for 7 days from their use: as if used just now.
    db.prepare("UPDATE client_ids SET created_at = ?").run(Date.now());
  } finally {
    db.close();
  }
  return dir;
}

const fixtureKey = () => DataKey.fromBytes(FIXTURE_KEY, { source: "the fixture key" });

Deno.test("a store of the release before the message log upgrades in place, losing nothing", async () => {
  const dir = await releaseDir();
  const path = `${dir}/parley.db`;
  try {
    const before = new DatabaseSync(path);
    assert.equal(
      Number(
        (before.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      ),
      0,
    );
    before.close();

    const store = await SqliteStore.open({ path, dataKey: await fixtureKey() });
    try {
      assert.deepEqual(
        (await store.listUsers(10)).map((u) => [u.name, u.lang]),
        [["Alice", "en"], ["bob", "es"], ["Carol", "fr"]],
      );
      assert.equal((await store.getWebLogin("ab".repeat(32)))?.userKey, "bob");
      assert.deepEqual(
        await store.getTranslations("deepl", "es", [{ text: "hello", lang: "en" }]),
        [{ text: "hola", detectedSource: "en" }],
      );
      // Pending, in the order stored, with their languages; what was acknowledged is gone.
      assert.deepEqual(await store.pending("bob"), [
        {
          id: "m1",
          from: "Alice",
          to: "bob",
          toKey: "bob",
          text: "first for bob",
          ts: T + 1,
          lang: "en",
        },
        {
          id: "m2",
          from: "Carol",
          to: "bob",
          toKey: "bob",
          text: "second for bob",
          ts: T + 2,
          lang: "fr",
        },
        {
          id: "m5",
          from: "Alice",
          to: "bob",
          toKey: "bob",
          text: "héllo 👋 third",
          ts: T + 5,
          lang: "en",
        },
      ]);
      assert.deepEqual((await store.pending("carol")).map((m) => m.id), ["m3"]);
      assert.deepEqual(await store.pending("alice"), []);
      // Now in the log: history of the conversation, and catch-up for a first device.
      const ab = privateConv("alice", "bob");
      assert.deepEqual((await store.history(ab, undefined, 10)).map((m) => m.id), ["m1", "m5"]);
      const laptop = await store.openDevice("bob", "laptop");
      assert.deepEqual(
        (await store.since("bob", laptop.cursor, 10)).messages.map((m) => m.id),
        ["m1", "m2", "m5"],
      );
      // Client ids answer with the first outcome, through either way of sending.
      assert.deepEqual(
        await store.storeOffline({
          id: "again",
          from: "Alice",
          to: "bob",
          toKey: "bob",
          text: "first for bob",
          ts: T,
        }, { senderKey: "alice", cid: "c-1" }),
        { id: "m1", to: "bob", status: "stored", recipients: 0 },
      );
      const m5 = (await store.history(ab, undefined, 10))[1];
      assert.deepEqual(
        await store.appendMessage({
          id: "again5",
          conv: ab,
          senderKey: "alice",
          from: "Alice",
          to: "bob",
          text: "x",
          ts: T,
        }, "c-5"),
        { seq: m5.seq, id: "m5", duplicate: true },
      );
    } finally {
      await store.close();
    }
    const after = new DatabaseSync(path);
    try {
      const one = (sql: string) => Object.values(after.prepare(sql).get()!)[0];
      assert.equal(Number(one("PRAGMA user_version")), 1);
      assert.equal(Number(one("SELECT count(*) FROM offline_messages")), 0, "moved, not copied");
      assert.equal(Number(one("SELECT count(*) FROM messages")), 4);
    } finally {
      after.close();
    }
    // A second open finds it upgraded and changes nothing.
    const again = await SqliteStore.open({ path, dataKey: await fixtureKey() });
    try {
      assert.equal(await again.pendingCount("bob"), 3);
      assert.equal(await again.lastSeq(), 4);
    } finally {
      await again.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("after the upgrade the server delivers the release's pending messages at sign-in", async () => {
  const dir = await releaseDir();
  const server = await startServer({ dataDir: dir });
  try {
    const bob = await server.user("bob", { login: true });
    assert.equal(bob.welcome?.pending, 3);
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await bob.nextOf("message"));
    assert.deepEqual(got.map((m) => [m.id, m.from, m.offline]), [
      ["m1", "Alice", true],
      ["m2", "Carol", true],
      ["m5", "Alice", true],
    ]);
    await bob.nextOf("acked");
    assert.equal(await server.store.pendingCount("bob"), 0);
    // Delivered once: a second sign-in gets nothing again.
    const bob2 = await server.user("bob", { login: true });
    assert.equal(bob2.welcome?.pending, 0);
    const carol = await server.user("carol", { login: true });
    assert.equal((await carol.nextOf("message")).text, "for carol");
  } finally {
    await server.close();
  }
});

Deno.test("the upgrade leaves a body that does not open where it was, and moves the rest", async () => {
  const dir = await releaseDir();
  const path = `${dir}/parley.db`;
  try {
    const db = new DatabaseSync(path);
    try {
      const { body } = db.prepare("SELECT body FROM offline_messages WHERE id = 'm2'").get() as {
        body: Uint8Array;
      };
      body[body.length - 1] ^= 1;
      db.prepare("UPDATE offline_messages SET body = ? WHERE id = 'm2'").run(body);
    } finally {
      db.close();
    }
    const lines: string[] = [];
    const store = await SqliteStore.open({
      path,
      dataKey: await fixtureKey(),
      logger: createLogger("error", (line) => lines.push(line)),
    });
    try {
      assert.deepEqual((await store.pending("bob")).map((m) => m.id), ["m1", "m5"]);
      assert.equal(await store.pendingCount("bob"), 2);
      assert.equal(lines.filter((l) => l.includes("id=m2 ")).length, 1, lines.join("\n"));
      assert.ok(!lines.some((l) => l.includes("second for bob")), "no body in the log");
    } finally {
      await store.close();
    }
    const after = new DatabaseSync(path);
    try {
      const left = after.prepare("SELECT id FROM offline_messages").all().map((r) => r.id);
      assert.deepEqual(left, ["m2"], "left for the operator");
    } finally {
      after.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
