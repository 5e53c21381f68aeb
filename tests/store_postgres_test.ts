/**
 * The PostgresStore against a real PostgreSQL (tests/services/postgres.ts): the shared
 * conformance suite, unchanged, and what only a shared database has (nodes starting at once,
 * a node with another data key, a PostgreSQL that goes away and comes back).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { DataKey, generateDataKeyBytes, isCryptoError } from "../lib/crypto/mod.ts";
import { isParleyError } from "../lib/errors.ts";
import { createLogger } from "../lib/log.ts";
import { privateConv } from "../lib/store/mod.ts";
import { PostgresStore } from "../lib/store/postgres/mod.ts";
import { StoreWriteHealth } from "../lib/store/write_health.ts";
import { runStoreConformance } from "./store_conformance.ts";
import { postgresAvailable, type PostgresService, startPostgres } from "./services/postgres.ts";

/**
 * One cluster for the file, started as the module loads (outside any test, so its process is
 * no test's leak) and stopped by the last test.
 */
const pg: PostgresService | undefined = postgresAvailable() ? await startPostgres() : undefined;
const service = () => Promise.resolve(pg!);

if (pg) {
  let database = "";
  runStoreConformance("PostgresStore", {
    async open(dataKey) {
      const pg = await service();
      database = await pg.createDatabase();
      return await PostgresStore.open({ url: pg.url(database), dataKey });
    },
    async reopen(dataKey) {
      return await PostgresStore.open({ url: (await service()).url(database), dataKey });
    },
    async cleanup() {
      await (await service()).dropDatabase(database);
    },
  });
}

const newKey = () => DataKey.fromBytes(generateDataKeyBytes(), { source: "a test key" });

const note = (id: string, sender: string, text: string) => ({
  id,
  conv: privateConv("alice", "bob"),
  senderKey: sender,
  from: sender,
  to: sender === "alice" ? "bob" : "alice",
  text,
  ts: Date.now(),
});

/** A fresh database of the test cluster, dropped after `fn`. */
async function withDatabase(fn: (url: string) => Promise<void>) {
  const name = await pg!.createDatabase();
  try {
    await fn(pg!.url(name));
  } finally {
    await pg!.dropDatabase(name);
  }
}

if (pg) {
  Deno.test("PostgresStore: nodes starting at once on an empty database migrate it once", async () => {
    await withDatabase(async (url) => {
      const key = await newKey();
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => PostgresStore.open({ url, dataKey: key })),
      );
      try {
        const sql = postgres(url, { max: 1, onnotice: () => {} });
        try {
          const rows = await sql`SELECT key, value FROM meta ORDER BY key`;
          assert.deepEqual(rows.map((r) => r.key), ["data_key_check", "schema_version"]);
          assert.equal(rows[1].value, "1");
        } finally {
          await sql.end();
        }
        // Each sees what the others write.
        await stores[0].createUser({
          key: "alice",
          name: "Alice",
          passwordHash: "h",
          lang: "en",
          createdAt: 1,
        });
        assert.equal((await stores[3].getUser("alice"))?.name, "Alice");
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });
  });

  Deno.test("PostgresStore: a node with another data key refuses to start, and changes nothing", async () => {
    await withDatabase(async (url) => {
      const first = await PostgresStore.open({ url, dataKey: await newKey() });
      await first.appendMessage(note("m1", "alice", "sealed"));
      const check = await PostgresStore.storedKeyCheck(url);
      await assert.rejects(
        PostgresStore.open({ url, dataKey: await newKey() }),
        (err) =>
          isCryptoError(err, "wrong_data_key") &&
          /not the key this store was sealed with/.test(err.message),
      );
      assert.equal(await PostgresStore.storedKeyCheck(url), check);
      // The first node goes on.
      assert.equal((await first.history(privateConv("alice", "bob"), undefined, 5)).length, 1);
      await first.close();
    });
  });

  Deno.test("PostgresStore: readers on another node never skip a seq that commits late", async () => {
    await withDatabase(async (url) => {
      const key = await newKey();
      const [a, b, reader] = await Promise.all(
        [0, 1, 2].map(() => PostgresStore.open({ url, dataKey: key })),
      );
      try {
        const total = 300;
        // Two nodes append at once, in bursts (each a group commit), while a third catches up.
        const writes = Promise.all(
          Array.from(
            { length: total },
            (_, i) =>
              (i % 2 ? a : b).appendMessage(note(`m${i}`, i % 3 ? "alice" : "bob", `t${i}`)),
          ),
        );
        const seen: number[] = [];
        let cursor = 0;
        let done = false;
        writes.then(() => done = true);
        while (true) {
          const finished = done;
          const page = await reader.since("bob", cursor, 50);
          for (const m of page.messages) seen.push(m.seq);
          if (page.messages.length) cursor = page.messages[page.messages.length - 1].seq;
          if (finished && !page.more && page.messages.length === 0) break;
        }
        const appended = (await writes).map((r) => r.seq).sort((x, y) => x - y);
        assert.deepEqual(seen, appended, "every seq once, in order, none skipped");
        assert.deepEqual(appended, Array.from({ length: total }, (_, i) => i + 1));
      } finally {
        await Promise.all([a, b, reader].map((s) => s.close()));
      }
    });
  });

  Deno.test("PostgresStore: concurrent writes share transactions (group commit)", async () => {
    await withDatabase(async (url) => {
      const store = await PostgresStore.open({ url, dataKey: await newKey() });
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      // Commits of this database, as PostgreSQL counts them (its statistics lag a little: it
      // is asked to flush them first).
      const commits = async () => {
        await sql`SELECT pg_stat_clear_snapshot()`;
        const [row] = await sql`SELECT xact_commit FROM pg_stat_database
          WHERE datname = current_database()`;
        return Number(row.xact_commit);
      };
      try {
        await store.appendMessage(note("warm", "alice", "x"));
        await sql`SELECT pg_stat_force_next_flush()`.catch(() => {});
        const before = await commits();
        const results = await Promise.all(
          Array.from(
            { length: 200 },
            (_, i) => store.appendMessage(note(`m${i}`, "alice", `t${i}`), `c${i}`),
          ),
        );
        assert.deepEqual(
          results.map((r) => r.seq),
          Array.from({ length: 200 }, (_, i) => i + 2),
          "seqs in call order",
        );
        await store.close();
        // Wait for the closed connections' statistics to reach the shared counters.
        let after = before;
        for (let i = 0; i < 50 && after - before < 2; i++) {
          await new Promise((r) => setTimeout(r, 100));
          after = await commits();
        }
        // Each of this connection's own statements is a commit too: a handful, not 200.
        assert.ok(after - before < 40, `${after - before} commits for 200 appends`);
      } finally {
        await store.close();
        await sql.end();
      }
    });
  });

  Deno.test({
    name: "PostgresStore: while PostgreSQL is down calls fail as storage_unavailable; then work",
    // The cluster's processes are restarted within the test.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await withDatabase(async (url) => {
        const lines: string[] = [];
        const health = new StoreWriteHealth(createLogger("info", (line) => lines.push(line)));
        const opened = await PostgresStore.open({ url, dataKey: await newKey() });
        // As the router sees it: through the health tracking /healthz reads.
        const store = health.wrap(opened);
        try {
          const acked = await store.appendMessage(note("before", "alice", "kept"), "c1");
          assert.deepEqual(health.reach, { reachable: true });
          await pg!.stop();
          for (
            const call of [
              () => store.appendMessage(note("during", "alice", "refused"), "c2"),
              () => store.history(privateConv("alice", "bob"), undefined, 10),
              () => store.check(),
              () => store.getUser("alice"),
            ]
          ) {
            await assert.rejects(call(), (err) => {
              assert.ok(isParleyError(err, "storage_unavailable"), String(err));
              assert.equal(
                err.message,
                "Not stored: the server cannot reach its database; try again shortly.",
              );
              return true;
            });
          }
          const down = health.reach;
          assert.equal(down.reachable, false);
          assert.ok(down.since && down.since <= Date.now());
          assert.equal(down.failed, 4);
          assert.equal(lines.filter((l) => /cannot be reached/.test(l)).length, 1, lines.join());

          await pg!.start();
          // The refused send goes again with its cid, as clients do: stored once.
          const again = await store.appendMessage(note("during", "alice", "refused"), "c2");
          assert.equal(again.duplicate, false);
          assert.deepEqual(
            (await store.history(privateConv("alice", "bob"), undefined, 10)).map((m) => m.id),
            ["before", "during"],
          );
          assert.equal(acked.seq, 1);
          await store.check();
          assert.deepEqual(health.reach, { reachable: true });
          assert.equal(
            lines.filter((l) => /database answers again/.test(l)).length,
            1,
            lines.join(),
          );
        } finally {
          await store.close();
        }
      });
    },
  });
}

if (pg) {
  Deno.test({
    name: "PostgresStore: PostgreSQL stopped mid-traffic loses nothing acknowledged",
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await withDatabase(async (url) => {
        const store = await PostgresStore.open({ url, dataKey: await newKey() });
        const acked = new Map<string, number>();
        const refused: string[] = [];
        let stopping: Promise<void> | undefined;
        try {
          // Senders keep appending; PostgreSQL is stopped (fast shutdown) under them.
          const sender = async (who: number) => {
            for (let i = 0; i < 60; i++) {
              const id = `s${who}-${i}`;
              if (who === 0 && i === 20) stopping = pg!.stop();
              try {
                const r = await store.appendMessage(note(id, "alice", id), id);
                acked.set(id, r.seq);
              } catch (err) {
                assert.ok(isParleyError(err, "storage_unavailable"), String(err));
                refused.push(id);
              }
            }
          };
          await Promise.all([0, 1, 2, 3].map(sender));
          await stopping;
          assert.ok(refused.length > 0, "some sends met the stopped server");
          await pg!.start();
          // Every refused send goes again with its cid, as a client does: at most once each.
          for (const id of refused) {
            const r = await store.appendMessage(note(id, "alice", id), id);
            acked.set(id, r.seq);
          }
          const all = [];
          let before: number | undefined;
          while (true) {
            const page = await store.history(privateConv("alice", "bob"), before, 100);
            if (page.length === 0) break;
            all.unshift(...page);
            before = page[0].seq;
          }
          assert.equal(all.length, 240, "every message once");
          const bySeq = new Map(all.map((m) => [m.seq, m.id]));
          for (const [id, seq] of acked) assert.equal(bySeq.get(seq), id, `${id} kept at ${seq}`);
        } finally {
          await stopping?.catch(() => {});
          await pg!.start().catch(() => {});
          await store.close();
        }
      });
    },
  });
}

if (!pg) {
  Deno.test({ name: "PostgresStore: needs PostgreSQL (skipped)", ignore: true, fn() {} });
}

if (pg) {
  Deno.test({
    name: "PostgresStore: (stops the test PostgreSQL)",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => pg.close(),
  });
}
