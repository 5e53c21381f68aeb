/**
 * The behaviour every Store must have. Each implementation's test file calls
 * `runStoreConformance` with a factory; the suite knows nothing of the backend.
 */
import assert from "node:assert/strict";
import { DataKey, generateDataKeyBytes, isCryptoError } from "../lib/crypto/mod.ts";
import { isParleyError } from "../lib/errors.ts";
import type {
  CachedTranslation,
  Store,
  StoredMessage,
  TranslationSource,
  UserRecord,
} from "../lib/store/mod.ts";

export interface StoreFactory {
  /** A fresh, empty store whose bodies are sealed with `dataKey`. */
  open(dataKey: DataKey): Promise<Store>;
  /** Opens the same data again after `close()` (for durability and key checks). */
  reopen?(dataKey: DataKey): Promise<Store>;
  cleanup?(): Promise<void>;
}

const newKey = () => DataKey.fromBytes(generateDataKeyBytes(), { source: "a test key" });

const user = (name: string, lang = "en"): UserRecord => ({
  name,
  key: name.toLowerCase(),
  passwordHash: `hash-of-${name}`,
  lang,
  createdAt: 1_700_000_000_000,
});

const message = (id: string, to: string, text: string): StoredMessage => ({
  id,
  from: "alice",
  to,
  toKey: to.toLowerCase(),
  text,
  ts: 1_700_000_000_000,
});

/** A source and its translation, for `putTranslations`. */
const entry = (
  text: string,
  translated: string,
  lang?: string,
  detectedSource?: string,
): { source: TranslationSource; translation: CachedTranslation } => ({
  source: lang === undefined ? { text } : { text, lang },
  translation: detectedSource === undefined
    ? { text: translated }
    : { text: translated, detectedSource },
});

export function runStoreConformance(name: string, factory: StoreFactory): void {
  const test = (what: string, fn: (store: Store) => Promise<void>) =>
    Deno.test(`${name}: ${what}`, async () => {
      const store = await factory.open(await newKey());
      try {
        await fn(store);
      } finally {
        await store.close();
        await factory.cleanup?.();
      }
    });

  test("creates and finds users by key", async (store) => {
    await store.createUser(user("Alice"));
    assert.deepEqual(await store.getUser("alice"), user("Alice"));
    assert.equal(await store.getUser("bob"), undefined);
  });

  test("refuses a second user with the same key", async (store) => {
    await store.createUser(user("Alice"));
    await assert.rejects(
      store.createUser({ ...user("ALICE"), key: "alice" }),
      (err) => isParleyError(err, "name_taken"),
    );
  });

  test("lists users by key and changes a language", async (store) => {
    for (const n of ["carol", "Bob", "alice"]) await store.createUser(user(n));
    await store.setLang("bob", "es");
    const listed = await store.listUsers(2);
    assert.deepEqual(listed.map((u) => [u.name, u.lang]), [["alice", "en"], ["Bob", "es"]]);
  });

  // A store that keeps a copy of the list (the server's does) must show each change in it.
  test("lists what changed since the last listing", async (store) => {
    for (const n of ["carol", "Bob"]) await store.createUser(user(n));
    assert.deepEqual((await store.listUsers(10)).map((u) => u.name), ["Bob", "carol"]);
    await store.createUser(user("alice"));
    await store.setLang("bob", "es");
    await store.setPasswordHash("carol", "another-hash");
    const listed = await store.listUsers(10);
    assert.deepEqual(listed.map((u) => [u.name, u.lang, u.passwordHash]), [
      ["alice", "en", "hash-of-alice"],
      ["Bob", "es", "hash-of-Bob"],
      ["carol", "en", "another-hash"],
    ]);
  });

  test("finds users by name prefix, a page at a time", async (store) => {
    for (const n of ["bob", "Bobby", "bo", "bob.b", "bob_z", "abe", "bp", "carol", "b"]) {
      await store.createUser(user(n));
    }
    const names = (users: UserRecord[]) => users.map((u) => u.name);
    // A prefix, not a substring; ordered by key; "" matches everyone.
    assert.deepEqual(names(await store.searchUsers("bob", undefined, 10)), [
      "bob",
      "bob.b",
      "bob_z",
      "Bobby",
    ]);
    assert.deepEqual(names(await store.searchUsers("bo", undefined, 2)), ["bo", "bob"]);
    assert.equal((await store.searchUsers("", undefined, 100)).length, 9);
    assert.deepEqual(await store.searchUsers("zed", undefined, 10), []);
    // Paging after the last key of a page, until a short page.
    const pages: string[][] = [];
    let after: string | undefined;
    while (true) {
      const page = await store.searchUsers("b", after, 2);
      pages.push(names(page));
      if (page.length < 2) break;
      after = page[page.length - 1].key;
    }
    assert.deepEqual(pages, [["b", "bo"], ["bob", "bob.b"], ["bob_z", "Bobby"], ["bp"]]);
    // A cursor from before the prefix starts at its first match; one past it finds nothing.
    assert.deepEqual(names(await store.searchUsers("bob", "a", 1)), ["bob"]);
    assert.deepEqual(await store.searchUsers("bob", "bz", 5), []);
  });

  test("keeps offline messages in the order they were stored, per recipient", async (store) => {
    await store.storeOffline(message("3", "bob", "first"));
    await store.storeOffline(message("1", "bob", "second"));
    await store.storeOffline(message("2", "carol", "other"));
    await store.storeOffline(message("0", "bob", "third"));
    const pending = await store.pending("bob");
    assert.deepEqual(pending.map((m) => m.text), ["first", "second", "third"]);
    assert.deepEqual(pending[0], message("3", "bob", "first"));
    assert.equal(await store.pendingCount("bob"), 3);
    assert.deepEqual((await store.pending("bob", 2)).map((m) => m.id), ["3", "1"]);
  });

  test("removes only acknowledged messages of the acknowledging user", async (store) => {
    await store.storeOffline(message("a", "bob", "one"));
    await store.storeOffline(message("b", "bob", "two"));
    await store.storeOffline(message("c", "carol", "three"));
    assert.equal(await store.ack("bob", ["a", "c", "zzz"]), 1);
    assert.deepEqual((await store.pending("bob")).map((m) => m.id), ["b"]);
    assert.equal(await store.pendingCount("carol"), 1);
  });

  test("stores a client id once and returns the first outcome after", async (store) => {
    const cid = { senderKey: "alice", cid: "c-1" };
    assert.equal(await store.storeOffline(message("m1", "bob", "hi"), cid), undefined);
    const again = await store.storeOffline(message("m2", "bob", "hi"), cid);
    assert.deepEqual(again, { id: "m1", to: "bob", status: "stored", recipients: 0 });
    assert.equal(await store.pendingCount("bob"), 1);
    assert.deepEqual(await store.lookupClientId("alice", "c-1"), again);
    assert.equal(await store.lookupClientId("carol", "c-1"), undefined);
    // Still known after the message itself was acknowledged.
    await store.ack("bob", ["m1"]);
    assert.deepEqual(await store.lookupClientId("alice", "c-1"), again);
  });

  test("stores many concurrent messages once each, in call order, with their client ids", async (store) => {
    // A client id used before the burst, and ones repeated within it (some right after their
    // first use, so within the same batch of a store that groups writes).
    assert.equal(
      await store.storeOffline(message("before", "bob", "before"), {
        senderKey: "alice",
        cid: "old",
      }),
      undefined,
    );
    const calls = Array.from({ length: 200 }, (_, i) => {
      const to = i % 3 === 0 ? "carol" : "bob";
      let cid = `c${i}`;
      if (i % 20 === 7) cid = `c${i - 1}`; // the call just before
      if (i % 50 === 13) cid = `c${i - 10}`; // a few calls before
      if (i === 99) cid = "old";
      return { m: message(`m${i}`, to, `text ${i}`), cid };
    });
    // The same cid from another sender is another message.
    calls.push({ m: message("other-sender", "bob", "mine"), cid: "c0" });
    const results = await Promise.all(
      calls.map(({ m, cid }, i) =>
        store.storeOffline(m, { senderKey: i === 200 ? "bob" : "alice", cid })
      ),
    );

    const firstOf = new Map<string, StoredMessage>([["alice/old", message("before", "bob", "")]]);
    const expected = calls.map(({ m, cid }, i) => {
      const key = `${i === 200 ? "bob" : "alice"}/${cid}`;
      const first = firstOf.get(key);
      if (first) return { id: first.id, to: first.to, status: "stored", recipients: 0 };
      firstOf.set(key, m);
      return undefined;
    });
    assert.deepEqual(results, expected);
    const storedIds = (to: string) =>
      calls.filter(({ m }, i) => m.to === to && expected[i] === undefined).map(({ m }) => m.id);
    assert.ok(storedIds("bob").length < calls.filter(({ m }) => m.to === "bob").length);
    assert.deepEqual((await store.pending("bob")).map((m) => m.id), [
      "before",
      ...storedIds("bob"),
    ]);
    assert.deepEqual((await store.pending("carol")).map((m) => m.id), storedIds("carol"));
    const texts = new Map(calls.map(({ m }) => [m.id, m.text]));
    for (const m of await store.pending("bob")) {
      if (m.id !== "before") assert.equal(m.text, texts.get(m.id));
    }
    assert.deepEqual(await store.lookupClientId("alice", "c6"), {
      id: "m6",
      to: "carol",
      status: "stored",
      recipients: 0,
    });
  });

  test("acknowledges concurrently, counting per call", async (store) => {
    const ids = Array.from({ length: 60 }, (_, i) => `m${i}`);
    await Promise.all(
      ids.map((id, i) => store.storeOffline(message(id, i < 40 ? "bob" : "carol", id))),
    );
    const counts = await Promise.all([
      store.ack("bob", ids.slice(0, 10)),
      store.ack("bob", ["m10", "m11", "m40", "zzz"]), // m40 is carol's
      store.ack("carol", ids.slice(40, 45)),
      store.ack("bob", []),
      ...ids.slice(12, 40).map((id) => store.ack("bob", [id])),
    ]);
    assert.deepEqual(counts, [10, 2, 5, 0, ...ids.slice(12, 40).map(() => 1)]);
    assert.equal(await store.pendingCount("bob"), 0);
    assert.deepEqual((await store.pending("carol")).map((m) => m.id), ids.slice(45));
  });

  test("check answers while open and fails once closed", async (store) => {
    await store.check();
    await store.storeOffline(message("a", "bob", "one"));
    await Promise.all([
      store.check(),
      store.storeOffline(message("b", "bob", "two")),
      store.check(),
    ]);
    await store.close();
    await assert.rejects(store.check());
    await assert.rejects(store.storeOffline(message("c", "bob", "three")));
    await assert.rejects(store.ack("bob", ["a"]));
  });

  test("keeps unicode text exactly", async (store) => {
    const text = "héllo 👋 — 日本語\nline two\t\u0000end";
    await store.storeOffline(message("u", "bob", text));
    assert.equal((await store.pending("bob"))[0].text, text);
  });

  test("keeps web sessions until they expire or are deleted", async (store) => {
    const now = Date.now();
    const live = {
      tokenHash: "a".repeat(64),
      userKey: "bob",
      createdAt: now,
      expiresAt: now + 60_000,
    };
    const old = {
      tokenHash: "b".repeat(64),
      userKey: "bob",
      createdAt: now - 2,
      expiresAt: now - 1,
    };
    await store.createWebSession(live);
    await store.createWebSession(old);
    assert.deepEqual(await store.getWebSession(live.tokenHash), live);
    assert.equal(await store.getWebSession(old.tokenHash), undefined, "expired");
    assert.equal(await store.getWebSession("c".repeat(64)), undefined, "unknown");
    assert.equal(await store.deleteWebSession(live.tokenHash), true);
    assert.equal(await store.deleteWebSession(live.tokenHash), false);
    assert.equal(await store.getWebSession(live.tokenHash), undefined, "deleted");
  });

  test("keeps the sender's language of an offline message, when given", async (store) => {
    await store.storeOffline({ ...message("a", "bob", "hola"), lang: "es" });
    await store.storeOffline(message("b", "bob", "hello"));
    await store.storeOffline({ ...message("c", "bob", "salut"), lang: "fr" }, {
      senderKey: "alice",
      cid: "c-1",
    });
    const pending = await store.pending("bob");
    assert.deepEqual(pending, [
      { ...message("a", "bob", "hola"), lang: "es" },
      message("b", "bob", "hello"),
      { ...message("c", "bob", "salut"), lang: "fr" },
    ]);
    assert.equal("lang" in pending[1], false, "no lang property when there was none");
  });

  test("caches translations and gives them back with the detected language", async (store) => {
    assert.deepEqual(await store.getTranslations("deepl", "fr", [{ text: "hello" }]), [undefined]);
    await store.putTranslations("deepl", "fr", [
      entry("hello", "bonjour", undefined, "en"),
      entry("héllo 👋 — 日本語\n\t\u0000end", "salut 👋 — 日本語\u0000", "en"),
    ]);
    const got = await store.getTranslations("deepl", "fr", [
      { text: "hello" },
      { text: "héllo 👋 — 日本語\n\t\u0000end", lang: "en" },
    ]);
    assert.deepEqual(got, [
      { text: "bonjour", detectedSource: "en" },
      { text: "salut 👋 — 日本語\u0000" },
    ]);
    assert.equal("detectedSource" in got[1]!, false, "no detectedSource when there was none");
    assert.deepEqual(await store.getTranslations("deepl", "fr", []), []);
    await store.putTranslations("deepl", "fr", []);
  });

  test("returns cached translations in the order asked, with misses", async (store) => {
    const texts = Array.from({ length: 500 }, (_, i) => `text ${i}`);
    await store.putTranslations(
      "p",
      "de",
      texts.filter((_, i) => i % 3 === 0).map((t) => entry(t, `${t} (de)`)),
    );
    const got = await store.getTranslations("p", "de", texts.map((text) => ({ text })));
    assert.equal(got.length, 500);
    got.forEach((t, i) => {
      assert.deepEqual(t, i % 3 === 0 ? { text: `text ${i} (de)` } : undefined, `entry ${i}`);
    });
    // The same source twice in one request gets the same answer twice.
    const twice = [{ text: "text 1" }, { text: "text 3" }, { text: "text 3" }];
    assert.deepEqual(await store.getTranslations("p", "de", twice), [
      undefined,
      { text: "text 3 (de)" },
      { text: "text 3 (de)" },
    ]);
  });

  test("keys translations by provider, target and source language", async (store) => {
    await store.putTranslations("p", "fr", [entry("hi", "fr by p")]);
    await store.putTranslations("p", "fr", [entry("hi", "fr by p from en", "en")]);
    await store.putTranslations("p", "fr", [entry("hi", "fr by p from de", "de")]);
    await store.putTranslations("p", "es", [entry("hi", "es by p")]);
    await store.putTranslations("q", "fr", [entry("hi", "fr by q")]);
    const get = async (provider: string, target: string, source: TranslationSource) =>
      (await store.getTranslations(provider, target, [source]))[0]?.text;
    assert.equal(await get("p", "fr", { text: "hi" }), "fr by p");
    assert.equal(await get("p", "fr", { text: "hi", lang: "en" }), "fr by p from en");
    assert.equal(await get("p", "fr", { text: "hi", lang: "de" }), "fr by p from de");
    assert.equal(await get("p", "fr", { text: "hi", lang: "it" }), undefined);
    assert.equal(await get("p", "es", { text: "hi" }), "es by p");
    assert.equal(await get("q", "fr", { text: "hi" }), "fr by q");
    assert.equal(await get("q", "es", { text: "hi" }), undefined);
    assert.equal(await get("p", "fr", { text: "Hi" }), undefined, "the text exactly");
    assert.equal(await get("p", "fr", { text: "hi " }), undefined, "the text exactly");
  });

  test("replaces a cached translation on a second put", async (store) => {
    await store.putTranslations("p", "fr", [entry("hi", "salut", undefined, "en")]);
    await store.putTranslations("p", "fr", [entry("hi", "bonjour")]);
    assert.deepEqual(await store.getTranslations("p", "fr", [{ text: "hi" }]), [
      { text: "bonjour" },
    ]);
    // The last of duplicates in one put wins.
    await store.putTranslations("p", "fr", [
      entry("yo", "un"),
      entry("yo", "deux", undefined, "es"),
    ]);
    assert.deepEqual(await store.getTranslations("p", "fr", [{ text: "yo" }]), [
      { text: "deux", detectedSource: "es" },
    ]);
  });

  if (factory.reopen) {
    Deno.test(`${name}: what was stored is there after reopening`, async () => {
      const key = await newKey();
      const store = await factory.open(key);
      await store.createUser(user("bob"));
      await store.storeOffline(message("x", "bob", "kept"));
      await store.storeOffline({ ...message("y", "bob", "guardado"), lang: "es" });
      await store.putTranslations("p", "fr", [
        entry("kept", "gardé", undefined, "en"),
        entry("hi", "salut", "en"),
      ]);
      await store.close();
      const again = await factory.reopen!(key);
      try {
        assert.equal((await again.getUser("bob"))?.name, "bob");
        assert.deepEqual(await again.pending("bob"), [
          message("x", "bob", "kept"),
          { ...message("y", "bob", "guardado"), lang: "es" },
        ]);
        assert.deepEqual(
          await again.getTranslations("p", "fr", [
            { text: "kept" },
            { text: "hi", lang: "en" },
            { text: "hi" },
          ]),
          [{ text: "gardé", detectedSource: "en" }, { text: "salut" }, undefined],
        );
      } finally {
        await again.close();
        await factory.cleanup?.();
      }
    });

    Deno.test(`${name}: concurrent messages are there after reopening`, async () => {
      const key = await newKey();
      const store = await factory.open(key);
      const ids = Array.from({ length: 300 }, (_, i) => `m${i}`);
      const cid = (i: number) => ({ senderKey: "alice", cid: `c${i % 250}` });
      const results = await Promise.all(
        ids.map((id, i) => store.storeOffline(message(id, "bob", `text ${i}`), cid(i))),
      );
      assert.equal(results.filter((r) => r === undefined).length, 250);
      // Called and not awaited before close(): close flushes it first.
      const late = store.storeOffline(message("late", "bob", "last"), {
        senderKey: "alice",
        cid: "late",
      });
      const lateAck = store.ack("bob", ["m0"]);
      await store.close();
      assert.equal(await late, undefined);
      assert.equal(await lateAck, 1);
      const again = await factory.reopen!(key);
      try {
        assert.deepEqual(
          (await again.pending("bob")).map((m) => [m.id, m.text]),
          [...ids.slice(1, 250).map((id, i) => [id, `text ${i + 1}`]), ["late", "last"]],
        );
        assert.deepEqual(await again.lookupClientId("alice", "c249"), {
          id: "m249",
          to: "bob",
          status: "stored",
          recipients: 0,
        });
        await again.check();
      } finally {
        await again.close();
        await factory.cleanup?.();
      }
    });

    // A store opened with another key never reads the cache: it is refused at open (below). A
    // cached translation that does not open is a miss, not an error: see each backend's tests.
    Deno.test(`${name}: refuses to open with another data key`, async () => {
      const store = await factory.open(await newKey());
      await store.storeOffline(message("x", "bob", "sealed"));
      await store.putTranslations("p", "fr", [entry("sealed", "scellé")]);
      await store.close();
      try {
        await assert.rejects(
          factory.reopen!(await newKey()),
          (err) =>
            isCryptoError(err, "wrong_data_key") &&
            /not the key this store was sealed with/.test(err.message),
        );
      } finally {
        await factory.cleanup?.();
      }
    });
  }
}
