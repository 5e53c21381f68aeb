import assert from "node:assert/strict";
import { assertNoPlaintext } from "./canary.ts";
import { DatabaseSync } from "node:sqlite";
import { DataKey, generateDataKeyBytes } from "../lib/crypto/mod.ts";
import { createLogger } from "../lib/log.ts";
import {
  DATA_KEY_CHECK,
  sealOfflineBody,
  sealTranslation,
  SqliteStore,
  type StoredMessage,
  translationLookup,
} from "../lib/store/mod.ts";
import { runStoreConformance } from "./store_conformance.ts";

let dir = "";
runStoreConformance("SqliteStore", {
  async open(dataKey) {
    dir = await Deno.makeTempDir({ prefix: "parley-store-" });
    return await SqliteStore.open({ path: `${dir}/parley.db`, dataKey });
  },
  reopen(dataKey) {
    return SqliteStore.open({ path: `${dir}/parley.db`, dataKey });
  },
  async cleanup() {
    await Deno.remove(dir, { recursive: true });
  },
});

const newKey = () => DataKey.fromBytes(generateDataKeyBytes(), { source: "a test key" });

const message = (id: string, text: string, lang?: string): StoredMessage => ({
  id,
  from: "alice",
  to: "bob",
  toKey: "bob",
  text,
  ts: 1_700_000_000_000,
  ...(lang === undefined ? {} : { lang }),
});

async function withDir(fn: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "parley-store-" });
  try {
    await fn(`${dir}/parley.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn` on the database file directly (the store closed). */
function withDb<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const countTranslations = (path: string) =>
  withDb(path, (db) => Number((db.prepare("SELECT count(*) AS n FROM translations").get()!).n));

/** The offline_messages table as the store made it before messages had a language. */
const OLD_SCHEMA = `
CREATE TABLE offline_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  to_key TEXT NOT NULL,
  from_name TEXT NOT NULL,
  to_name TEXT NOT NULL,
  body BLOB NOT NULL,
  ts INTEGER NOT NULL
);
CREATE INDEX offline_by_recipient ON offline_messages (to_key, seq);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;

/**
 * A database as an older Parley left it (no lang column), holding one message with `body`;
 * with `keyCheck`, sealed under a data key, otherwise from before encryption.
 */
function oldStore(
  path: string,
  m: Pick<StoredMessage, "id" | "from" | "to" | "toKey" | "ts">,
  body: Uint8Array,
  keyCheck?: string,
): void {
  withDb(path, (db) => {
    db.exec(OLD_SCHEMA);
    db.prepare(
      "INSERT INTO offline_messages (id, to_key, from_name, to_name, body, ts) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(m.id, m.toKey, m.from, m.to, body, m.ts);
    if (keyCheck) {
      db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)").run(DATA_KEY_CHECK, keyCheck);
    }
  });
}

const utf8 = (text: string) => new TextEncoder().encode(text);

const columns = (path: string, table: string) =>
  withDb(
    path,
    (db) =>
      (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name),
  );

Deno.test("SqliteStore: adds the lang column to a store from before it", async () => {
  await withDir(async (path) => {
    const key = await newKey();
    const old = message("old", "from before");
    const body = await sealOfflineBody(key, old, old.text);
    oldStore(path, old, body, key.keyCheck());
    assert.ok(!columns(path, "offline_messages").includes("lang"));

    const store = await SqliteStore.open({ path, dataKey: key });
    try {
      assert.ok(columns(path, "offline_messages").includes("lang"));
      await store.storeOffline(message("new", "hola", "es"));
      assert.deepEqual(await store.pending("bob"), [old, message("new", "hola", "es")]);
      await store.putTranslations("p", "en", [{
        source: { text: "hola", lang: "es" },
        translation: { text: "hello" },
      }]);
      assert.deepEqual(await store.getTranslations("p", "en", [{ text: "hola", lang: "es" }]), [
        { text: "hello" },
      ]);
    } finally {
      await store.close();
    }
    // And a second open leaves it be.
    const again = await SqliteStore.open({ path, dataKey: key });
    try {
      assert.equal((await again.pending("bob")).length, 2);
    } finally {
      await again.close();
    }
  });
});

Deno.test("SqliteStore: adds the lang column to a store from before encryption", async () => {
  await withDir(async (path) => {
    oldStore(
      path,
      { id: "p", from: "alice", to: "bob", toKey: "bob", ts: 1_700_000_000_000 },
      utf8("plain"),
    );
    const store = await SqliteStore.open({
      path,
      dataKey: await newKey(),
      logger: createLogger("silent"),
    });
    try {
      assert.deepEqual(await store.pending("bob"), [message("p", "plain")]);
      await store.storeOffline(message("q", "bonjour", "fr"));
      assert.equal((await store.pending("bob"))[1].lang, "fr");
    } finally {
      await store.close();
    }
  });
});

Deno.test("SqliteStore: keeps at most maxTranslations, forgetting the oldest", async () => {
  await withDir(async (path) => {
    const key = await newKey();
    const texts = Array.from({ length: 25 }, (_, i) => `text ${i}`);
    const put = (store: SqliteStore, batch: string[]) =>
      store.putTranslations(
        "p",
        "fr",
        batch.map((text) => ({ source: { text }, translation: { text: `${text} fr` } })),
      );
    const store = await SqliteStore.open({ path, dataKey: key, maxTranslations: 10 });
    try {
      for (const text of texts) await put(store, [text]);
      const got = await store.getTranslations("p", "fr", texts.map((text) => ({ text })));
      assert.deepEqual(
        got.map((t) => t?.text),
        texts.map((text, i) => i < 15 ? undefined : `${text} fr`),
        "the 10 newest are kept",
      );
      // Replacing an old one makes it the newest.
      await put(store, ["text 15"]);
      await put(store, ["extra"]);
      const after = await store.getTranslations("p", "fr", [{ text: "text 15" }, {
        text: "text 16",
      }]);
      assert.deepEqual(after.map((t) => t?.text), ["text 15 fr", undefined]);
      // One put larger than the bound.
      await put(store, texts.map((t) => `batch ${t}`));
    } finally {
      await store.close();
    }
    assert.equal(countTranslations(path), 10);

    // The count is taken at open: a smaller bound prunes at the next put.
    const again = await SqliteStore.open({ path, dataKey: key, maxTranslations: 3 });
    try {
      await put(again, ["last"]);
      assert.deepEqual(await again.getTranslations("p", "fr", [{ text: "last" }]), [{
        text: "last fr",
      }]);
    } finally {
      await again.close();
    }
    assert.equal(countTranslations(path), 3);
  });
});

Deno.test("SqliteStore: a cached translation that does not open is a miss", async () => {
  await withDir(async (path) => {
    const key = await newKey();
    const lines: string[] = [];
    const logger = createLogger("warn", (line) => lines.push(line));
    const sources = ["one", "two", "three", "four"].map((text) => ({ text }));
    let store = await SqliteStore.open({ path, dataKey: key, logger });
    await store.putTranslations(
      "p",
      "fr",
      sources.map((source) => ({ source, translation: { text: `${source.text} fr` } })),
    );
    await store.close();

    const lookup = (text: string) => translationLookup(key, "p", "fr", { text });
    const other = await newKey();
    const [l1, l2, l3, l4] = await Promise.all(sources.map((s) => lookup(s.text)));
    const foreign = await sealTranslation(other, "p", "fr", l1, { text: "x" });
    withDb(path, (db) => {
      const body = (l: string) =>
        (db.prepare("SELECT body FROM translations WHERE lookup = ?").get(l) as {
          body: Uint8Array;
        }).body;
      const set = db.prepare("UPDATE translations SET body = ? WHERE lookup = ?");
      // "one": sealed under another key.
      set.run(foreign, l1);
      // "two": one bit flipped.
      const flipped = body(l2).slice();
      flipped[flipped.length - 1] ^= 1;
      set.run(flipped, l2);
      // "three": the body of "four" (moved to another row).
      set.run(body(l4), l3);
    });

    store = await SqliteStore.open({ path, dataKey: key, logger });
    try {
      const got = await store.getTranslations("p", "fr", sources);
      assert.deepEqual(got, [undefined, undefined, undefined, { text: "four fr" }]);
      await store.getTranslations("p", "fr", sources);
      assert.equal(lines.length, 1, "reported once");
      assert.match(lines[0], /cached translation failed to open/);
      // A new put replaces what did not open.
      await store.putTranslations("p", "fr", [{ source: sources[0], translation: { text: "un" } }]);
      assert.deepEqual(await store.getTranslations("p", "fr", [sources[0]]), [{ text: "un" }]);
    } finally {
      await store.close();
    }
  });
});

Deno.test("SqliteStore: cached translations are in neither the file nor its WAL", async () => {
  await withDir(async (path) => {
    const canary = () => `secret-canary-${crypto.randomUUID()}`;
    const [text, translated, lang, detected] = [canary(), canary(), canary(), canary()];
    const store = await SqliteStore.open({ path, dataKey: await newKey() });
    try {
      await store.putTranslations("p", "fr", [
        { source: { text, lang }, translation: { text: translated, detectedSource: detected } },
      ]);
      assert.ok((await Deno.stat(`${path}-wal`)).size > 0, "the WAL holds the write");
      await assertNoPlaintext(path, [text, translated, lang, detected]);
      assert.deepEqual(await store.getTranslations("p", "fr", [{ text, lang }]), [
        { text: translated, detectedSource: detected },
      ]);
      // Replaced: the old body is not left behind either.
      await store.putTranslations("p", "fr", [{
        source: { text, lang },
        translation: { text: "x" },
      }]);
      await assertNoPlaintext(path, [text, translated, lang, detected]);
    } finally {
      await store.close();
    }
    await assertNoPlaintext(path, [text, translated, lang, detected]);
    withDb(path, (db) => {
      const rows = db.prepare("SELECT lookup, body FROM translations").all() as {
        lookup: string;
        body: Uint8Array;
      }[];
      assert.equal(rows.length, 1);
      assert.match(rows[0].lookup, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(rows[0].body[0], 0x01);
    });
  });
});

Deno.test("SqliteStore: a write that fails in a batch fails alone", async () => {
  await withDir(async (path) => {
    const store = await SqliteStore.open({ path, dataKey: await newKey() });
    try {
      await store.storeOffline(message("taken", "earlier"));
      const cid = (cid: string) => ({ senderKey: "alice", cid });
      const calls: [StoredMessage, string][] = Array.from(
        { length: 50 },
        (_, i) => [message(`m${i}`, `text ${i}`), `c${i}`],
      );
      calls[20] = [message("taken", "a used id"), "c20"];
      // A duplicate id within the batch; its client id is free again for the call after it.
      calls[31] = [message("m30", "the id of the call before"), "c31"];
      calls[32] = [message("m32", "text 32"), "c31"];
      const settled = await Promise.allSettled(
        calls.map(([m, c]) => store.storeOffline(m, cid(c))),
      );
      settled.forEach((s, i) => {
        if (i === 20 || i === 31) {
          assert.equal(s.status, "rejected", `call ${i}`);
          assert.match(String((s as PromiseRejectedResult).reason), /UNIQUE/);
        } else assert.deepEqual(s, { status: "fulfilled", value: undefined }, `call ${i}`);
      });
      const stored = await store.pending("bob");
      assert.deepEqual(
        stored.map((m) => m.id),
        ["taken", ...calls.filter((_, i) => i !== 20 && i !== 31).map(([m]) => m.id)],
      );
      assert.equal(stored[0].text, "earlier");
      assert.equal(stored.find((m) => m.id === "m30")?.text, "text 30");
      // The failed calls left no client id behind.
      assert.equal(await store.lookupClientId("alice", "c20"), undefined);
      assert.equal((await store.lookupClientId("alice", "c31"))?.id, "m32");
      assert.equal(await store.storeOffline(message("m20", "again"), cid("c20")), undefined);
    } finally {
      await store.close();
    }
  });
});

/** Frames in the WAL of `path`, with nothing checkpointed since `resetWal`. */
async function walFrames(path: string): Promise<number> {
  const size = (await Deno.stat(`${path}-wal`)).size;
  return size <= 32 ? 0 : (size - 32) / (24 + 4096);
}

function resetWal(path: string) {
  withDb(path, (db) => {
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  });
}

Deno.test("SqliteStore: concurrent writes share transactions", async () => {
  await withDir(async (path) => {
    const store = await SqliteStore.open({ path, dataKey: await newKey() });
    try {
      assert.equal(
        Number(withDb(path, (db) => db.prepare("PRAGMA page_size").get()!.page_size)),
        4096,
      );
      // One at a time: a transaction each (each writes several pages to the WAL).
      resetWal(path);
      for (let i = 0; i < 20; i++) {
        await store.storeOffline(message(`s${i}`, `text ${i}`), { senderKey: "a", cid: `s${i}` });
      }
      const alone = await walFrames(path);
      assert.ok(alone >= 20 * 3, `${alone} frames for 20 transactions`);

      // 200 at once: a few transactions.
      resetWal(path);
      const results = await Promise.all(
        Array.from(
          { length: 200 },
          (_, i) =>
            store.storeOffline(message(`m${i}`, `text ${i}`), { senderKey: "a", cid: `${i}` }),
        ),
      );
      assert.ok(results.every((r) => r === undefined));
      const together = await walFrames(path);
      assert.ok(together < 100, `${together} frames for 200 messages`);

      // Acks too.
      resetWal(path);
      const counts = await Promise.all(
        Array.from({ length: 200 }, (_, i) => store.ack("bob", [`m${i}`])),
      );
      assert.ok(counts.every((n) => n === 1));
      const acks = await walFrames(path);
      assert.ok(acks < 100, `${acks} frames for 200 acks`);
      assert.equal(await store.pendingCount("bob"), 20);
    } finally {
      await store.close();
    }
  });
});

Deno.test("SqliteStore: more writes than one batch takes, and a large ack", async () => {
  await withDir(async (path) => {
    const store = await SqliteStore.open({ path, dataKey: await newKey() });
    try {
      const ids = Array.from({ length: 2500 }, (_, i) => `m${i}`);
      const results = await Promise.all(
        ids.map((id) => store.storeOffline(message(id, id), { senderKey: "alice", cid: id })),
      );
      assert.ok(results.every((r) => r === undefined));
      assert.deepEqual((await store.pending("bob")).map((m) => m.id), ids);
      // Overlapping acks count in call order: the later one finds some already gone.
      const counts = await Promise.all([
        store.ack("bob", ids.slice(0, 1500)),
        store.ack("bob", ids.slice(1000, 1200)),
        store.ack("bob", ids.slice(1000, 2500)),
      ]);
      assert.deepEqual(counts, [1500, 0, 1000]);
      assert.equal(await store.pendingCount("bob"), 0);
    } finally {
      await store.close();
    }
  });
});

Deno.test("SqliteStore: writes called during the first-open migration wait for it", async () => {
  await withDir(async (path) => {
    oldStore(
      path,
      { id: "p", from: "alice", to: "bob", toKey: "bob", ts: 1_700_000_000_000 },
      utf8("plain"),
    );
    const store = new SqliteStore({
      path,
      dataKey: await newKey(),
      logger: createLogger("silent"),
    });
    try {
      const [stored, acked, ...more] = await Promise.all([
        store.storeOffline(message("q", "during")),
        store.ack("bob", ["p"]),
        store.storeOffline(message("r", "also"), { senderKey: "alice", cid: "r" }),
        store.check(),
      ]);
      assert.deepEqual([stored, acked, ...more], [undefined, 1, undefined, undefined]);
      assert.deepEqual((await store.pending("bob")).map((m) => m.text), ["during", "also"]);
    } finally {
      await store.close();
    }
  });
});

Deno.test("SqliteStore: check fails when the store is not readable as its own", async () => {
  await withDir(async (path) => {
    const store = await SqliteStore.open({ path, dataKey: await newKey() });
    try {
      await store.check();
      withDb(path, (db) => db.prepare("DELETE FROM meta WHERE key = ?").run(DATA_KEY_CHECK));
      await assert.rejects(store.check(), /data key check/);
    } finally {
      await store.close();
    }
    await assert.rejects(store.check(), /closed/);
  });
});
