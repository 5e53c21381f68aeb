/**
 * Encryption at rest (docs/security.md §9): bodies never reach the SQLite file or its WAL in
 * plaintext, a wrong or lost key stops the store (and the server) with a clear error, swapped
 * or damaged rows are skipped rather than shown, and a store from before encryption is sealed
 * on its first open.
 */
import assert from "node:assert/strict";
import { assertNoPlaintext, contains, forms, rawFiles } from "./canary.ts";
import { DatabaseSync } from "node:sqlite";
import { DataKey, generateDataKeyBytes, isCryptoError } from "../lib/crypto/mod.ts";
import { DATA_KEY_FILE, loadOrCreateDataKey } from "../lib/crypto/key_files.ts";
import { createLogger } from "../lib/log.ts";
import { SqliteStore, type StoredMessage } from "../lib/store/mod.ts";
import { runServerToExit, spawnServer } from "./process_helpers.ts";

const newKey = () => DataKey.fromBytes(generateDataKeyBytes(), { source: "a test key" });

const message = (id: string, to: string, text: string, ts = 1_700_000_000_000): StoredMessage => ({
  id,
  from: "alice",
  to,
  toKey: to.toLowerCase(),
  text,
  ts,
});

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "parley-at-rest-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("stored bodies are in neither the SQLite file nor its WAL in any form", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/parley.db`;
    const store = await SqliteStore.open({ path, dataKey: await newKey() });
    const texts = Array.from({ length: 5 }, (_, i) => `secret-canary-${crypto.randomUUID()}-${i}`);
    try {
      for (const [i, text] of texts.entries()) {
        await store.storeOffline(message(`m${i}`, "bob", text), {
          senderKey: "alice",
          cid: `c${i}`,
        });
      }
      // While open, the writes sit in the WAL.
      const wal = await Deno.stat(`${path}-wal`);
      assert.ok(wal.size > 0, "the WAL holds the writes");
      await assertNoPlaintext(path, texts);
      assert.deepEqual((await store.pending("bob")).map((m) => m.text), texts);
      // Acknowledged (kept as history): still nowhere.
      await store.ack("bob", ["m0"]);
      await assertNoPlaintext(path, texts);
    } finally {
      await store.close();
    }
    await assertNoPlaintext(path, texts);
    // The bodies are sealed records of the documented format.
    const db = new DatabaseSync(path);
    try {
      const rows = db.prepare("SELECT body FROM messages").all() as { body: Uint8Array }[];
      // Acknowledged ones stay, as history.
      assert.equal(rows.length, 5);
      for (const { body } of rows) assert.equal(body[0], 0x01);
      const meta = db.prepare("SELECT value FROM meta WHERE key = 'data_key_check'").get() as {
        value: string;
      };
      assert.match(meta.value, /^kcv1:[A-Za-z0-9_-]{43}$/);
    } finally {
      db.close();
    }
  });
});

Deno.test("a wrong data key is refused when the store opens, with what to do", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/parley.db`;
    const key = await newKey();
    const store = await SqliteStore.open({ path, dataKey: key });
    await store.storeOffline(message("m1", "bob", "hello"));
    await store.close();
    assert.equal(SqliteStore.storedKeyCheck(path), key.keyCheck());
    const wrong = await DataKey.fromBytes(generateDataKeyBytes(), { source: "PARLEY_DATA_KEY" });
    assert.throws(
      () => new SqliteStore({ path, dataKey: wrong }),
      (err) =>
        isCryptoError(err, "wrong_data_key") &&
        err.message.includes(`from PARLEY_DATA_KEY (id ${wrong.keyId})`) &&
        err.message.includes(`(id ${key.keyId})`) &&
        /restore the data key file/.test(err.message),
    );
    await assert.rejects(
      SqliteStore.open({ path, dataKey: wrong }),
      (err) => isCryptoError(err, "wrong_data_key"),
    );
    // Nothing was changed: the right key still reads it.
    const again = await SqliteStore.open({ path, dataKey: key });
    try {
      assert.deepEqual((await again.pending("bob")).map((m) => m.text), ["hello"]);
    } finally {
      await again.close();
    }
  });
});

Deno.test("a swapped or damaged record is skipped and logged by id, never shown", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/parley.db`;
    const lines: string[] = [];
    const logger = createLogger("debug", (line) => lines.push(line));
    const store = await SqliteStore.open({ path, dataKey: await newKey(), logger });
    try {
      for (let i = 1; i <= 6; i++) await store.storeOffline(message(`m${i}`, "bob", `text ${i}`));
      const db = new DatabaseSync(path);
      try {
        // Swap the bodies of m1 and m2; flip a byte of m4's body.
        const body = (id: string) =>
          (db.prepare("SELECT body FROM messages WHERE id = ?").get(id) as {
            body: Uint8Array;
          }).body;
        const b1 = body("m1"), b2 = body("m2"), b4 = body("m4");
        const set = db.prepare("UPDATE messages SET body = ? WHERE id = ?");
        set.run(b2, "m1");
        set.run(b1, "m2");
        b4[b4.length - 1] ^= 1;
        set.run(b4, "m4");
      } finally {
        db.close();
      }
      // The limit counts readable messages, so unreadable ones do not hide the rest.
      const first = await store.pending("bob", 2);
      assert.deepEqual(first.map((m) => [m.id, m.text]), [["m3", "text 3"], ["m5", "text 5"]]);
      const all = await store.pending("bob");
      assert.deepEqual(all.map((m) => m.id), ["m3", "m5", "m6"]);
      assert.equal(await store.pendingCount("bob"), 3);
      const logged = lines.filter((l) => l.includes("failed to open"));
      assert.equal(logged.length, 3, "each once");
      for (const id of ["m1", "m2", "m4"]) assert.ok(logged.some((l) => l.includes(`id=${id} `)));
      assert.ok(!lines.some((l) => l.includes("text ")), "no body in the log");
    } finally {
      await store.close();
    }
    // Left in the table for the operator.
    const db = new DatabaseSync(path);
    try {
      const n = db.prepare("SELECT count(*) AS n FROM messages").get() as { n: number };
      assert.equal(n.n, 6);
    } finally {
      db.close();
    }
  });
});

Deno.test("a store from before encryption is sealed on first open, in place", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/parley.db`;
    const texts = [`secret-canary-${crypto.randomUUID()}`, `secret-canary-${crypto.randomUUID()}`];
    // The schema as it was: bodies as UTF-8 bytes, no meta table.
    const legacy = new DatabaseSync(path);
    legacy.exec("PRAGMA journal_mode = WAL");
    legacy.exec(`CREATE TABLE offline_messages (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, to_key TEXT NOT NULL,
      from_name TEXT NOT NULL, to_name TEXT NOT NULL, body BLOB NOT NULL, ts INTEGER NOT NULL)`);
    const insert = legacy.prepare(
      "INSERT INTO offline_messages (id, to_key, from_name, to_name, body, ts) VALUES (?, ?, ?, ?, ?, ?)",
    );
    texts.forEach((t, i) =>
      insert.run(`old${i}`, "bob", "alice", "Bob", new TextEncoder().encode(t), 1000 + i)
    );
    // A control for the scan: it does find the plaintext here (in the WAL, or the file).
    const before = [...(await rawFiles(path)).values()];
    for (const text of texts) {
      assert.ok(
        before.some((bytes) => contains(bytes, forms(text)[0])),
        "the scan finds plaintext",
      );
    }
    legacy.close();
    assert.equal(SqliteStore.storedKeyCheck(path), undefined);

    const key = await newKey();
    const store = await SqliteStore.open({ path, dataKey: key });
    try {
      assert.deepEqual((await store.pending("bob")).map((m) => [m.id, m.from, m.to, m.text]), [
        ["old0", "alice", "Bob", texts[0]],
        ["old1", "alice", "Bob", texts[1]],
      ]);
      await assertNoPlaintext(path, texts);
    } finally {
      await store.close();
    }
    await assertNoPlaintext(path, texts);
    assert.equal(SqliteStore.storedKeyCheck(path), key.keyCheck());
  });
});

// These spawn the real server but talk to its store directly rather than through a client, so
// they test start-up alone; tests/durability_test.ts covers messages end to end with sealing on.

Deno.test("the server refuses to start when the data key file of a sealed store is gone", async () => {
  await withDir(async (dir) => {
    const first = await spawnServer(dir);
    assert.equal((await first.stop("SIGTERM")).code, 0);
    const info = await Deno.stat(`${dir}/${DATA_KEY_FILE}`);
    assert.equal(info.mode! & 0o777, 0o600);
    assert.match(SqliteStore.storedKeyCheck(`${dir}/parley.db`) ?? "", /^kcv1:/);

    await Deno.remove(`${dir}/${DATA_KEY_FILE}`);
    const { code, output } = await runServerToExit(dir);
    assert.equal(code, 1, output);
    assert.match(output, /there is no data key/);
    assert.match(output, /Restore .*data\.key from a backup, or set PARLEY_DATA_KEY/);
    assert.doesNotMatch(output, /Parley listening/);
    // And no fresh key was made behind the operator's back.
    await assert.rejects(Deno.stat(`${dir}/${DATA_KEY_FILE}`), Deno.errors.NotFound);
  });
});

Deno.test("PARLEY_DATA_KEY holds the key; a wrong or malformed one stops start-up", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/parley.db`;
    const keyText = btoa(String.fromCharCode(...generateDataKeyBytes()));
    const env = { PARLEY_DATA_KEY: keyText };
    const first = await spawnServer(dir, [], { env });
    assert.match(first.output(), /data key [0-9a-f]{8} from PARLEY_DATA_KEY/);
    assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL");
    // The key came from the environment: no key file was written.
    await assert.rejects(Deno.stat(`${dir}/${DATA_KEY_FILE}`), Deno.errors.NotFound);

    // The store the server made is sealed under that key.
    const secret = `secret-canary-${crypto.randomUUID()}`;
    const dataKey = await DataKey.fromBase64(keyText);
    const store = await SqliteStore.open({ path, dataKey });
    // Dated now: the server prunes history older than --history-days (365) when it starts.
    await store.storeOffline(message("m1", "bob", secret, Date.now()));
    await store.close();
    await assertNoPlaintext(path, [secret]);

    const wrong = await runServerToExit(dir, [], {
      env: { PARLEY_DATA_KEY: btoa(String.fromCharCode(...generateDataKeyBytes())) },
    });
    assert.equal(wrong.code, 1, wrong.output);
    assert.match(wrong.output, /PARLEY_DATA_KEY .* is not the key this store was sealed with/);
    assert.match(wrong.output, /set PARLEY_DATA_KEY to it, or restore the data key file/);

    const malformed = await runServerToExit(dir, [], { env: { PARLEY_DATA_KEY: "not a key!" } });
    assert.equal(malformed.code, 1, malformed.output);
    assert.match(malformed.output, /PARLEY_DATA_KEY is not valid base64.*openssl rand -base64 32/);

    const short = await runServerToExit(dir, [], { env: { PARLEY_DATA_KEY: btoa("too short") } });
    assert.equal(short.code, 1, short.output);
    assert.match(short.output, /PARLEY_DATA_KEY must be 32 bytes; it is 9/);

    // Without the variable there is no key at all for this store.
    const missing = await runServerToExit(dir);
    assert.equal(missing.code, 1, missing.output);
    assert.match(missing.output, /there is no data key/);

    // With the right key it starts, and the message is still there and readable.
    const second = await spawnServer(dir, [], { env });
    assert.equal((await second.stop("SIGTERM")).code, 0);
    const again = await SqliteStore.open({ path, dataKey });
    try {
      assert.deepEqual((await again.pending("bob")).map((m) => m.text), [secret]);
    } finally {
      await again.close();
    }
  });
});

Deno.test("a data key file readable by others is refused", async () => {
  await withDir(async (dir) => {
    await loadOrCreateDataKey(dir);
    await Deno.chmod(`${dir}/${DATA_KEY_FILE}`, 0o644);
    const { code, output } = await runServerToExit(dir);
    assert.equal(code, 1, output);
    assert.match(output, /mode 0644.*chmod 600/);
  });
});
