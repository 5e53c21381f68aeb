import assert from "node:assert/strict";
import { DataKey, generateDataKeyBytes } from "../lib/crypto/mod.ts";
import { SqliteStore } from "../lib/store/mod.ts";
import type { Store, UserRecord } from "../lib/store/store.ts";
import { cachedUserList } from "../lib/store/user_list_cache.ts";
import { sleep } from "./helpers.ts";
import { InProcessBusHub } from "../lib/bus/mod.ts";

const user = (name: string, lang = "en"): UserRecord => ({
  name,
  key: name.toLowerCase(),
  passwordHash: "x",
  lang,
  createdAt: 0,
});

/** A real SQLite store, with its listUsers calls counted. */
async function withCountingStore(fn: (store: Store, reads: () => number) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  const store = await SqliteStore.open({
    path: `${dir}/parley.db`,
    dataKey: await DataKey.fromBytes(generateDataKeyBytes()),
  });
  let reads = 0;
  const listUsers = store.listUsers.bind(store);
  store.listUsers = (limit: number) => (reads++, listUsers(limit));
  try {
    await fn(store, () => reads);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("user list cache: repeated lists read the store once", async () => {
  await withCountingStore(async (inner, reads) => {
    await inner.createUser(user("alice"));
    await inner.createUser(user("bob"));
    const store = cachedUserList(inner, 60_000);
    const lists = await Promise.all([store.listUsers(10), store.listUsers(10), store.listUsers(1)]);
    assert.deepEqual(lists.map((l) => l.map((u) => u.name)), [
      ["alice", "bob"],
      ["alice", "bob"],
      ["alice"],
    ]);
    assert.equal(reads(), 1);
    // A caller changing its copy changes nobody else's.
    lists[0].length = 0;
    assert.equal((await store.listUsers(10)).length, 2);
    // A longer list than a full one kept is read again.
    const short = cachedUserList(inner, 60_000);
    assert.deepEqual((await short.listUsers(1)).map((u) => u.name), ["alice"]);
    assert.deepEqual((await short.listUsers(10)).map((u) => u.name), ["alice", "bob"]);
    assert.equal(reads(), 3);
  });
});

Deno.test("user list cache: a new account or language shows at once", async () => {
  await withCountingStore(async (inner) => {
    const store = cachedUserList(inner, 60_000);
    await store.createUser(user("alice"));
    assert.deepEqual((await store.listUsers(10)).map((u) => u.name), ["alice"]);
    await store.createUser(user("bob"));
    assert.deepEqual((await store.listUsers(10)).map((u) => u.name), ["alice", "bob"]);
    await store.setLang("bob", "es");
    assert.equal((await store.listUsers(10)).find((u) => u.key === "bob")?.lang, "es");
  });
});

Deno.test("user list cache: changes made elsewhere show after the time to live", async () => {
  await withCountingStore(async (inner, reads) => {
    const store = cachedUserList(inner, 50);
    assert.deepEqual(await store.listUsers(10), []);
    await inner.createUser(user("carol")); // not through the cache: another node, say
    assert.deepEqual(await store.listUsers(10), []);
    await sleep(80);
    assert.deepEqual((await store.listUsers(10)).map((u) => u.name), ["carol"]);
    assert.equal(reads(), 2);
  });
});

Deno.test("user list cache: with a bus, a change on another node shows at once", async () => {
  await withCountingStore(async (inner) => {
    const hub = new InProcessBusHub();
    const [busA, busB] = [hub.join("a"), hub.join("b")];
    // Two nodes (workers) on one store, each with its own copy of the list.
    const a = cachedUserList(inner, 60_000, busA);
    const b = cachedUserList(inner, 60_000, busB);
    try {
      await a.createUser(user("alice"));
      assert.deepEqual((await b.listUsers(10)).map((u) => u.name), ["alice"]);
      await a.createUser(user("bob"));
      await sleep(0); // the bus delivers in a later turn
      assert.deepEqual((await b.listUsers(10)).map((u) => u.name), ["alice", "bob"]);
      await b.setLang("alice", "fr");
      await sleep(0);
      assert.equal((await a.listUsers(10)).find((u) => u.key === "alice")?.lang, "fr");
    } finally {
      await busA.close();
      await busB.close();
    }
  });
});

Deno.test("user list cache: every other store method works through it", async () => {
  await withCountingStore(async (inner) => {
    const store = cachedUserList(inner);
    await store.createUser(user("dave"));
    assert.equal((await store.getUser("dave"))?.name, "dave");
    await store.check();
  });
});

Deno.test("user list cache: new accounts join the kept list in order, without a read", async () => {
  await withCountingStore(async (inner, reads) => {
    const store = cachedUserList(inner, 60_000);
    for (const name of ["bob", "dave"]) await store.createUser(user(name));
    assert.deepEqual((await store.listUsers(3)).map((u) => u.name), ["bob", "dave"]);
    await store.createUser(user("alice"));
    await store.createUser(user("carol"));
    await store.createUser(user("erin")); // past the first three: not listed
    assert.deepEqual((await store.listUsers(3)).map((u) => u.name), ["alice", "bob", "carol"]);
    assert.equal(reads(), 1);
    // What the store itself lists agrees.
    assert.deepEqual((await inner.listUsers(3)).map((u) => u.name), ["alice", "bob", "carol"]);
  });
});

Deno.test("user list cache: a short list is the whole table and serves any limit", async () => {
  await withCountingStore(async (inner, reads) => {
    for (const name of ["alice", "bob"]) await inner.createUser(user(name));
    const store = cachedUserList(inner, 60_000);
    assert.equal((await store.listUsers(10)).length, 2);
    // Growing limits (each sign-in lists more online users) need no read: there is no more.
    assert.equal((await store.listUsers(50)).length, 2);
    await store.createUser(user("carol"));
    assert.deepEqual((await store.listUsers(1000)).map((u) => u.name), ["alice", "bob", "carol"]);
    assert.equal(reads(), 1);
  });
});

Deno.test("user list cache: a failed read is not kept, even with a change waiting on it", async () => {
  await withCountingStore(async (inner) => {
    let fail = true;
    const listUsers = inner.listUsers.bind(inner);
    inner.listUsers = (limit: number) =>
      fail ? Promise.reject(new Error("disk I/O error")) : listUsers(limit);
    const store = cachedUserList(inner, 60_000);
    const first = store.listUsers(10);
    await store.createUser(user("alice")); // commits while the read is in flight
    await assert.rejects(first, /disk I\/O error/);
    await Promise.resolve(); // (an unhandled rejection would fail this test)
    fail = false;
    assert.deepEqual((await store.listUsers(10)).map((u) => u.name), ["alice"]);
  });
});
