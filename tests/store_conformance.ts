/**
 * The behaviour every Store must have. Each implementation's test file calls
 * `runStoreConformance` with a factory; the suite knows nothing of the backend.
 */
import assert from "node:assert/strict";
import { DataKey, generateDataKeyBytes, isCryptoError } from "../lib/crypto/mod.ts";
import { isParleyError } from "../lib/errors.ts";
import {
  type CachedTranslation,
  type NewLogMessage,
  parseConv,
  privateConv,
  roomConv,
  type RoomVisibility,
  type Store,
  type StoredMessage,
  type TranslationSource,
  type UserRecord,
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
  runLogConformance(name, factory);
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
    await store.createWebLogin(live);
    await store.createWebLogin(old);
    assert.deepEqual(await store.getWebLogin(live.tokenHash), live);
    assert.equal(await store.getWebLogin(old.tokenHash), undefined, "expired");
    assert.equal(await store.getWebLogin("c".repeat(64)), undefined, "unknown");
    assert.equal(await store.deleteWebLogin(live.tokenHash), true);
    assert.equal(await store.deleteWebLogin(live.tokenHash), false);
    assert.equal(await store.getWebLogin(live.tokenHash), undefined, "deleted");
  });

  test("keeps one resume token per device until it expires or is revoked", async (store) => {
    const now = Date.now();
    const token = (userKey: string, device: string, hash: string, expiresAt = now + 60_000) => ({
      userKey,
      device,
      tokenHash: hash.repeat(64),
      createdAt: now,
      expiresAt,
    });
    await store.saveResumeToken(token("bob", "laptop", "a"));
    await store.saveResumeToken(token("bob", "phone", "b"));
    await store.saveResumeToken(token("eve", "laptop", "c"));
    assert.deepEqual(await store.getResumeToken("bob", "laptop"), token("bob", "laptop", "a"));
    // A new sign-in of the same device replaces its token.
    await store.saveResumeToken(token("bob", "laptop", "d"));
    assert.deepEqual(await store.getResumeToken("bob", "laptop"), token("bob", "laptop", "d"));
    assert.equal(await store.getResumeToken("bob", "tablet"), undefined, "unknown device");
    // A resume moves the expiry on; an expired token is gone and cannot be moved.
    assert.equal(await store.touchResumeToken("bob", "phone", now + 120_000), true);
    assert.equal((await store.getResumeToken("bob", "phone"))?.expiresAt, now + 120_000);
    await store.saveResumeToken(token("bob", "old", "e", now - 1));
    assert.equal(await store.getResumeToken("bob", "old"), undefined, "expired");
    assert.equal(await store.touchResumeToken("bob", "old", now + 60_000), false);
    // Revoking one device, then the rest of the user's; other users keep theirs.
    assert.equal(await store.deleteResumeTokens("bob", "phone"), 1);
    assert.equal(await store.getResumeToken("bob", "phone"), undefined);
    assert.ok(await store.deleteResumeTokens("bob") >= 1);
    assert.equal(await store.getResumeToken("bob", "laptop"), undefined);
    assert.deepEqual(await store.getResumeToken("eve", "laptop"), token("eve", "laptop", "c"));
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

/** A message of the log, as appended. */
const logMessage = (
  id: string,
  conv: string,
  senderKey: string,
  text: string,
  ts = 1_700_000_000_000,
): NewLogMessage => {
  const t = parseConv(conv);
  return {
    id,
    conv,
    senderKey,
    from: senderKey.toUpperCase(),
    to: t.kind === "room" ? `#${t.room}` : (t.users[0] === senderKey ? t.users[1] : t.users[0]),
    text,
    ts,
    lang: "en",
  };
};

const room = (key: string, visibility: RoomVisibility = "public") => ({
  key,
  name: key.toUpperCase(),
  topic: "",
  visibility,
  createdAt: 1_700_000_000_000,
});

/** The cases of the message log, rooms, devices and read state (docs/storage.md). */
function runLogConformance(name: string, factory: StoreFactory): void {
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
  const ab = privateConv("alice", "bob");

  test("appends messages with growing seqs and pages history back in time", async (store) => {
    assert.equal(await store.lastSeq(), 0);
    const seqs: number[] = [];
    for (let i = 0; i < 25; i++) {
      const r = await store.appendMessage(
        logMessage(`m${i}`, ab, i % 2 ? "bob" : "alice", `text ${i}`),
      );
      assert.equal(r.duplicate, false);
      assert.equal(r.id, `m${i}`);
      seqs.push(r.seq);
      // Another conversation in between: pages skip it.
      await store.appendMessage(logMessage(`o${i}`, privateConv("alice", "carol"), "carol", "x"));
    }
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), "seqs grow");
    assert.equal(await store.lastSeq(), seqs[24] + 1);
    // Newest page first, each shown oldest first; no gaps, no repeats.
    const pages: string[][] = [];
    let before: number | undefined;
    while (true) {
      const page = await store.history(ab, before, 10);
      if (page.length === 0) break;
      pages.push(page.map((m) => m.id));
      for (let i = 1; i < page.length; i++) assert.ok(page[i].seq > page[i - 1].seq);
      before = page[0].seq;
    }
    assert.deepEqual(pages.map((p) => p.length), [10, 10, 5]);
    assert.deepEqual(pages.reverse().flat(), seqs.map((_, i) => `m${i}`));
    const [first] = await store.history(ab, seqs[1], 1);
    assert.deepEqual(first, { ...logMessage("m0", ab, "alice", "text 0"), seq: seqs[0] });
    assert.deepEqual(await store.history(privateConv("x", "y"), undefined, 10), []);
    await assert.rejects(
      store.history("nonsense", undefined, 1),
      (e) => isParleyError(e, "bad_argument"),
    );
  });

  test("keeps a call's entry with its message, in history and sync", async (store) => {
    const call = { media: "video" as const, outcome: "ended" as const, duration: 125 };
    await store.appendMessage(logMessage("t1", ab, "alice", "hi"));
    await store.appendMessage({ ...logMessage("c1", ab, "alice", "(video call, 2:05)"), call });
    const missed = { media: "audio" as const, outcome: "missed" as const };
    await store.appendMessage({
      ...logMessage("c2", ab, "alice", "(voice call, missed)"),
      call: missed,
    });
    const page = await store.history(ab, undefined, 10);
    assert.deepEqual(page.map((m) => m.call), [undefined, call, missed]);
    assert.equal(page[1].text, "(video call, 2:05)");
    const synced = await store.since("bob", 0, 10);
    assert.deepEqual(synced.messages.map((m) => m.call), [undefined, call, missed]);
  });

  test("an append with a used client id stores nothing and answers as the first", async (store) => {
    const first = await store.appendMessage(logMessage("m1", ab, "alice", "hi"), "c1");
    const again = await store.appendMessage(logMessage("m2", ab, "alice", "hi"), "c1");
    assert.deepEqual(again, { seq: first.seq, id: "m1", duplicate: true });
    // Scoped to the sender.
    const other = await store.appendMessage(logMessage("m3", ab, "bob", "hi"), "c1");
    assert.equal(other.duplicate, false);
    // Concurrent repeats within one batch.
    const burst = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => store.appendMessage(logMessage(`b${i}`, ab, "alice", `b${i}`), `k${i % 5}`),
      ),
    );
    assert.equal(burst.filter((r) => !r.duplicate).length, 5);
    assert.deepEqual(burst[7], { seq: burst[2].seq, id: "b2", duplicate: true });
    assert.equal((await store.history(ab, undefined, 100)).length, 2 + 5);
    assert.equal((await store.lookupClientId("alice", "c1"))?.id, "m1");
  });

  test("refuses a sender outside the conversation, and room messages from non-members", async (store) => {
    await assert.rejects(
      store.appendMessage(logMessage("x", ab, "carol", "no")),
      (e) => isParleyError(e, "bad_argument"),
    );
    await assert.rejects(
      store.appendMessage(logMessage("y", roomConv("nope"), "alice", "no")),
      (e) => isParleyError(e, "no_such_room"),
    );
    await store.createRoom(room("dev"), "alice");
    await assert.rejects(
      store.appendMessage(logMessage("z", roomConv("dev"), "bob", "no")),
      (e) => isParleyError(e, "not_a_member"),
    );
    assert.equal(
      (await store.appendMessage(logMessage("ok", roomConv("dev"), "alice", "hi"))).duplicate,
      false,
    );
    assert.equal(await store.lastSeq(), 1, "refused appends took no seq");
  });

  test("creates, lists, joins and leaves rooms; invite-only rooms refuse outsiders", async (store) => {
    const dev = await store.createRoom(room("dev"), "alice");
    assert.deepEqual(dev, { ...room("dev"), members: 1 });
    await assert.rejects(
      store.createRoom({ ...room("dev"), name: "Dev" }, "bob"),
      (e) => isParleyError(e, "room_taken"),
    );
    await store.createRoom({ ...room("ops", "invite"), topic: "on call" }, "alice");
    await store.createRoom(room("zoo", "invite"), "carol");
    assert.deepEqual(await store.getRoom("ops"), {
      ...room("ops", "invite"),
      topic: "on call",
      members: 1,
    });
    assert.equal(await store.getRoom("nope"), undefined);

    // Public rooms, and the invite-only ones you are in or invited to.
    const names = async (user: string, after?: string, limit = 10) =>
      (await store.listRooms(user, after, limit)).map((r) => r.key);
    assert.deepEqual(await names("bob"), ["dev"]);
    assert.deepEqual(await names("alice"), ["dev", "ops"]);
    assert.deepEqual(await names("alice", "dev"), ["ops"]);
    assert.deepEqual(await names("alice", undefined, 1), ["dev"]);

    const joined = await store.joinRoom("dev", "bob");
    assert.equal(joined.already, false);
    assert.deepEqual(joined.member.role, "member");
    assert.equal((await store.joinRoom("dev", "bob")).already, true);
    await assert.rejects(store.joinRoom("ops", "bob"), (e) => isParleyError(e, "not_invited"));
    await assert.rejects(store.joinRoom("nope", "bob"), (e) => isParleyError(e, "no_such_room"));
    assert.deepEqual(await store.invitesOf("bob"), []);
    assert.equal(await store.invite("ops", "bob", "alice"), true);
    assert.equal(await store.invited("ops", "bob"), true);
    assert.deepEqual(
      (await store.invitesOf("bob")).map((i) => [i.room, i.byKey, typeof i.createdAt]),
      [["ops", "alice", "number"]],
    );
    assert.deepEqual(await names("bob"), ["dev", "ops"]);
    assert.equal((await store.joinRoom("ops", "bob")).already, false);
    assert.equal(await store.invited("ops", "bob"), false, "the invitation is used up");
    assert.deepEqual(await store.invitesOf("bob"), [], "a used invitation is not listed");
    assert.equal(await store.invite("zoo", "alice", "carol"), true);
    assert.equal(await store.dropInvite("zoo", "alice"), true, "declined");
    assert.equal(await store.dropInvite("zoo", "alice"), false);
    assert.equal(await store.invited("zoo", "alice"), false);
    await assert.rejects(store.joinRoom("zoo", "alice"), (e) => isParleyError(e, "not_invited"));
    assert.equal(await store.invite("ops", "bob", "alice"), false, "a member already");
    await assert.rejects(
      store.invite("nope", "bob", "alice"),
      (e) => isParleyError(e, "no_such_room"),
    );

    assert.deepEqual(await store.roomsOf("bob"), ["dev", "ops"]);
    assert.deepEqual((await store.members("dev")).map((m) => [m.userKey, m.role]), [
      ["alice", "owner"],
      ["bob", "member"],
    ]);
    assert.equal((await store.getRoom("dev"))?.members, 2);
    assert.equal((await store.member("dev", "bob"))?.role, "member");
    assert.equal(await store.member("dev", "carol"), undefined);

    await store.setTopic("dev", "shipping 1.0");
    assert.equal((await store.getRoom("dev"))?.topic, "shipping 1.0");
    await assert.rejects(store.setTopic("nope", "x"), (e) => isParleyError(e, "no_such_room"));

    assert.equal(await store.leaveRoom("dev", "bob"), true);
    assert.equal(await store.leaveRoom("dev", "bob"), false);
    assert.deepEqual(await store.roomsOf("bob"), ["ops"]);
    // A public room is joined again at will.
    assert.equal((await store.joinRoom("dev", "bob")).already, false);
  });

  test("hands ownership over, and passes it on when the owner leaves", async (store) => {
    await store.createRoom(room("dev", "invite"), "alice");
    for (const u of ["bob", "carol"]) {
      await store.invite("dev", u, "alice");
      await store.joinRoom("dev", u);
    }
    const roles = async () => (await store.members("dev")).map((m) => `${m.userKey}:${m.role}`);
    await store.setRole("dev", "carol", "owner");
    assert.deepEqual(await roles(), ["alice:member", "bob:member", "carol:owner"]);
    await assert.rejects(
      store.setRole("dev", "carol", "member"),
      (e) => isParleyError(e, "bad_argument"),
    );
    await assert.rejects(
      store.setRole("dev", "dave", "owner"),
      (e) => isParleyError(e, "not_a_member"),
    );
    // The owner leaves: the longest-standing member takes over.
    await store.leaveRoom("dev", "carol");
    assert.deepEqual(await roles(), ["alice:owner", "bob:member"]);
    // The last one leaves: the room, its name and its history stay.
    await store.leaveRoom("dev", "alice");
    await store.leaveRoom("dev", "bob");
    assert.deepEqual(await store.getRoom("dev"), { ...room("dev", "invite"), members: 0 });
  });

  test("catch-up returns every conversation's messages past a cursor, in order, once", async (store) => {
    await store.createRoom(room("dev"), "alice");
    const bc = privateConv("bob", "carol");
    const early = await store.appendMessage(
      logMessage("early", roomConv("dev"), "alice", "before bob"),
    );
    await store.joinRoom("dev", "bob");
    const want: string[] = [];
    for (let i = 0; i < 30; i++) {
      const conv = [ab, roomConv("dev"), bc, privateConv("alice", "carol")][i % 4];
      const sender = conv === bc
        ? "carol"
        : i % 3 || conv !== ab && conv !== roomConv("dev")
        ? "alice"
        : "bob";
      await store.appendMessage(logMessage(`m${i}`, conv, sender, `text ${i}`));
      if (conv !== privateConv("alice", "carol")) want.push(`m${i}`);
    }
    // Paged at 7: every one of bob's (his own included), none of others', none before he joined.
    const got: string[] = [];
    let cursor = 0;
    let pages = 0;
    while (true) {
      const page = await store.since("bob", cursor, 7);
      got.push(...page.messages.map((m) => m.id));
      pages++;
      if (page.messages.length) cursor = page.messages[page.messages.length - 1].seq;
      if (!page.more) break;
    }
    assert.deepEqual(got, want);
    assert.equal(pages, Math.ceil(want.length / 7));
    assert.ok(!got.includes("early"), `joined after seq ${early.seq}`);
    assert.deepEqual(await store.since("bob", cursor, 7), { messages: [], more: false });
    // Leaving a room ends its messages for you.
    await store.leaveRoom("dev", "bob");
    await store.appendMessage(logMessage("after", roomConv("dev"), "alice", "gone"));
    assert.deepEqual((await store.since("bob", cursor, 7)).messages, []);
  });

  test("a new device starts where no device has been; acks move cursors forward only", async (store) => {
    const m1 = await store.appendMessage(logMessage("m1", ab, "alice", "one"));
    const laptop = await store.openDevice("bob", "laptop");
    assert.equal(laptop.cursor, 0, "nothing delivered yet: from the start");
    assert.equal((await store.since("bob", laptop.cursor, 10)).messages.length, 1);
    assert.equal(await store.ackDevice("bob", "laptop", m1.seq), m1.seq);
    assert.equal(await store.deliveredSeq("bob"), m1.seq);
    // Sent while every device was away: the next device to come gets it.
    const m2 = await store.appendMessage(logMessage("m2", ab, "alice", "two"));
    const phone = await store.openDevice("bob", "phone");
    assert.equal(phone.cursor, m1.seq);
    assert.deepEqual((await store.since("bob", phone.cursor, 10)).messages.map((m) => m.id), [
      "m2",
    ]);
    // Backwards is ignored; past the end is clamped.
    assert.equal(await store.ackDevice("bob", "phone", m2.seq + 1000), m2.seq);
    assert.equal(await store.ackDevice("bob", "phone", 1), m2.seq);
    assert.equal(await store.deliveredSeq("bob"), m2.seq);
    // The laptop's own cursor did not move: it catches up on m2 exactly once.
    const again = await store.openDevice("bob", "laptop");
    assert.equal(again.cursor, m1.seq);
    assert.deepEqual((await store.since("bob", again.cursor, 10)).messages.map((m) => m.id), [
      "m2",
    ]);
    assert.deepEqual((await store.devices("bob")).map((d) => d.deviceId).toSorted(), [
      "laptop",
      "phone",
    ]);
    assert.equal(await store.forgetDevice("bob", "phone"), true);
    assert.equal(await store.forgetDevice("bob", "phone"), false);
    await assert.rejects(
      store.ackDevice("bob", "phone", 1),
      (e) => isParleyError(e, "bad_argument"),
    );
    await assert.rejects(store.openDevice("bob", ""), (e) => isParleyError(e, "bad_argument"));
    await assert.rejects(
      store.openDevice("bob", "x".repeat(65)),
      (e) => isParleyError(e, "bad_argument"),
    );
    await assert.rejects(
      store.ackDevice("bob", "laptop", -1),
      (e) => isParleyError(e, "bad_argument"),
    );
    // Devices are per user: the same id of another user is another device.
    assert.equal((await store.openDevice("carol", "laptop")).cursor, 0);
    // A device ack is a delivery: the offline view agrees.
    assert.equal(await store.pendingCount("bob"), 0);
  });

  test("offline delivery and device cursors are one delivered point", async (store) => {
    await store.storeOffline({
      id: "s1",
      from: "alice",
      to: "bob",
      toKey: "bob",
      text: "a",
      ts: 1,
    });
    await store.storeOffline({
      id: "s2",
      from: "alice",
      to: "bob",
      toKey: "bob",
      text: "b",
      ts: 2,
    });
    // Stored offline is in the log (history) too.
    assert.deepEqual((await store.history(ab, undefined, 10)).map((m) => m.text), ["a", "b"]);
    // Acknowledged out of order: the point waits for the gap to close.
    assert.equal(await store.ack("bob", ["s2"]), 1);
    assert.equal(await store.deliveredSeq("bob"), 0);
    assert.deepEqual((await store.pending("bob")).map((m) => m.id), ["s1"]);
    assert.equal(await store.pendingCount("bob"), 1);
    assert.equal(await store.ack("bob", ["s2"]), 0, "already acknowledged");
    assert.equal(await store.ack("bob", ["s1"]), 1);
    const [s1, s2] = await store.history(ab, undefined, 10);
    assert.equal(await store.deliveredSeq("bob"), s2.seq);
    assert.equal(await store.pendingCount("bob"), 0);
    // What alice sent is not waiting for alice.
    assert.equal(await store.pendingCount("alice"), 0);
    // A device opened now starts past them.
    assert.equal((await store.openDevice("bob", "tab")).cursor, s2.seq);
    assert.ok(s1.seq < s2.seq);
    // Room messages wait for members who were away, like private ones.
    await store.createRoom(room("dev"), "alice");
    await store.joinRoom("dev", "bob");
    await store.appendMessage(logMessage("r1", roomConv("dev"), "alice", "in the room"));
    assert.deepEqual((await store.pending("bob")).map((m) => [m.id, m.to]), [["r1", "#dev"]]);
  });

  test("read markers only move forward; unread counts and readers come from them", async (store) => {
    await store.createRoom(room("dev"), "alice");
    await store.joinRoom("dev", "bob");
    await store.joinRoom("dev", "carol");
    const dev = roomConv("dev");
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) {
      seqs.push(
        (await store.appendMessage(logMessage(`r${i}`, dev, i < 4 ? "alice" : "bob", `r${i}`))).seq,
      );
    }
    const p1 = await store.appendMessage(logMessage("p1", ab, "alice", "psst"));
    assert.equal(await store.readMarker("bob", dev), 0);
    const bobs = async () =>
      Object.fromEntries((await store.conversations("bob")).map((c) => [c.conv, c.unread]));
    // bob's own two room messages are not unread for him.
    assert.deepEqual(await bobs(), { [dev]: 4, [ab]: 1 });
    assert.equal(await store.markRead("bob", dev, seqs[2]), seqs[2]);
    assert.equal(await store.markRead("bob", dev, seqs[0]), seqs[2], "never back");
    assert.deepEqual(await bobs(), { [dev]: 1, [ab]: 1 });
    // Past the newest message: clamped to it, so later messages still count.
    assert.equal(await store.markRead("bob", ab, p1.seq + 100), p1.seq);
    await store.appendMessage(logMessage("p2", ab, "alice", "again"));
    assert.deepEqual(await bobs(), { [dev]: 1, [ab]: 1 });
    // How many have read room message r1 (its sender aside).
    assert.equal(await store.readCount(dev, seqs[1]), 1);
    await store.markRead("carol", dev, seqs[5]);
    assert.equal(await store.readCount(dev, seqs[1]), 2);
    assert.equal(await store.readCount(dev, seqs[5]), 1, "bob sent r5; carol read it");
    await store.markRead("alice", dev, seqs[5]);
    assert.equal(await store.readCount(dev, seqs[5]), 2);
    assert.equal(await store.readCount(ab, seqs[5]), 0, "not a message of that conversation");
    await assert.rejects(store.markRead("dave", dev, 1), (e) => isParleyError(e, "not_a_member"));
    await assert.rejects(store.markRead("dave", ab, 1), (e) => isParleyError(e, "bad_argument"));
    // Leaving drops the marker: the readers are the members.
    await store.leaveRoom("dev", "carol");
    assert.equal(await store.readCount(dev, seqs[1]), 1, "bob; alice sent it");
    assert.equal(await store.readMarker("carol", dev), 0);
  });

  test("read receipts can be turned off, kept with the account, and readers leave them out", async (store) => {
    await store.createRoom(room("dev"), "alice");
    await store.joinRoom("dev", "bob");
    await store.joinRoom("dev", "carol");
    const dev = roomConv("dev");
    const { seq } = await store.appendMessage(logMessage("r0", dev, "alice", "hello"));
    assert.equal(await store.receiptsOn("bob"), true, "on until turned off");
    await store.markRead("bob", dev, seq);
    await store.markRead("carol", dev, seq);
    assert.equal(await store.readCount(dev, seq), 2);
    await store.setReceipts("bob", false);
    await store.setReceipts("bob", false);
    assert.equal(await store.receiptsOn("bob"), false);
    assert.equal(await store.receiptsOn("carol"), true);
    assert.equal(await store.readCount(dev, seq), 1, "bob reads, and does not say so");
    assert.equal(await store.readMarker("bob", dev), seq, "his own marker still moves");
    await store.setReceipts("bob", true);
    assert.equal(await store.receiptsOn("bob"), true);
    assert.equal(await store.readCount(dev, seq), 2);
  });

  test("lists a user's conversations by last activity", async (store) => {
    await store.createRoom(room("dev"), "bob");
    await store.appendMessage(logMessage("a", ab, "alice", "1", 10));
    await store.appendMessage(logMessage("b", privateConv("bob", "carol"), "carol", "2", 20));
    await store.appendMessage(logMessage("c", roomConv("dev"), "bob", "3", 30));
    await store.appendMessage(logMessage("d", ab, "bob", "4", 40));
    const list = await store.conversations("bob");
    assert.deepEqual(list.map((c) => [c.conv, c.with, c.lastTs, c.unread]), [
      [ab, "alice", 40, 1],
      [roomConv("dev"), "dev", 30, 0],
      [privateConv("bob", "carol"), "carol", 20, 1],
    ]);
    // A note to oneself is a conversation too.
    await store.appendMessage(logMessage("n", privateConv("bob", "bob"), "bob", "note", 50));
    assert.deepEqual((await store.conversations("bob"))[0].with, "bob");
    assert.deepEqual(await store.conversations("nobody"), []);
  });

  test("prunes the oldest history, never leaving a hole, never reusing a seq", async (store) => {
    const seqs: number[] = [];
    for (let i = 0; i < 2500; i++) {
      // One late clock among them: pruning stops at it rather than leave a hole after it.
      const ts = i === 1800 ? 5_000 : 1_000 + i;
      seqs.push((await store.appendMessage(logMessage(`m${i}`, ab, "alice", `t${i}`, ts))).seq);
    }
    assert.equal(await store.pruneHistory(1_000 + 1200), 1200);
    assert.equal((await store.history(ab, seqs[1200] + 1, 5))[0]?.id, "m1200");
    assert.equal((await store.history(ab, seqs[1200], 5)).length, 0);
    assert.equal(await store.pruneHistory(1_000 + 2000), 600, "up to the late clock");
    assert.equal(await store.pruneHistory(Number.MAX_SAFE_INTEGER), 700);
    assert.deepEqual(await store.history(ab, undefined, 10), []);
    const next = await store.appendMessage(logMessage("new", ab, "alice", "after"));
    assert.ok(next.seq > seqs[2499], "seqs are never reused");
  });

  const file = (id: string, ownerKey: string, size: number, address = "a".repeat(64)) => ({
    id,
    address,
    ownerKey,
    name: `${id} notes é.txt`,
    type: "text/plain",
    size,
    createdAt: 1_700_000_000_000,
  });

  test("keeps file records, counts them against their owner, and says who shares them", async (store) => {
    await store.createRoom(room("dev"), "alice");
    await store.putFile(file("f1", "alice", 100));
    await store.putFile({
      ...file("f2", "alice", 50, "b".repeat(64)),
      type: "image/png",
      width: 4,
      height: 3,
    });
    await store.putFile(file("f3", "bob", 7));
    assert.deepEqual(await store.getFile("f1"), file("f1", "alice", 100));
    assert.equal((await store.getFile("f2"))?.width, 4);
    assert.equal(await store.getFile("nope"), undefined);
    assert.equal(await store.fileUsage("alice"), 150);
    assert.equal(await store.fileUsage("carol"), 0);
    assert.deepEqual(await store.fileConvs("f1"), []);
    await store.appendMessage({ ...logMessage("m1", ab, "alice", ""), file: { id: "f1" } });
    await store.appendMessage({
      ...logMessage("m2", roomConv("dev"), "alice", "pic"),
      file: { id: "f1" },
    });
    assert.deepEqual(await store.fileConvs("f1"), [ab, roomConv("dev")].toSorted());
    // Read back whole with its message, wherever the message is read.
    const [m1] = await store.history(ab, undefined, 5);
    assert.deepEqual(m1.file, { id: "f1", name: "f1 notes é.txt", type: "text/plain", size: 100 });
    assert.equal(m1.text, "");
    assert.deepEqual((await store.since("bob", 0, 5)).messages.map((m) => m.file?.id), ["f1"]);
    assert.deepEqual((await store.pending("bob")).map((m) => m.file?.id), ["f1"]);
    await assert.rejects(
      store.appendMessage({ ...logMessage("m3", ab, "alice", ""), file: { id: "gone" } }),
      (err) => isParleyError(err, "no_such_file"),
    );
  });

  test("forgets files once no message shares them, and unsent ones after their time", async (store) => {
    await store.putFile(file("sent", "alice", 10));
    await store.putFile(file("twin", "alice", 10)); // the same bytes, uploaded again: one blob
    await store.putFile({ ...file("fresh", "alice", 10, "c".repeat(64)), createdAt: 2_000 });
    await store.appendMessage({
      ...logMessage("m1", ab, "alice", "", 1_000),
      file: { id: "sent" },
    });
    await store.appendMessage({
      ...logMessage("m2", ab, "alice", "", 1_500),
      file: { id: "twin" },
    });
    assert.deepEqual(await store.pruneFiles(0), [], "all in use, or fresh");
    await store.pruneHistory(1_001);
    // "sent" goes, but its blob is still the twin's.
    assert.deepEqual(await store.pruneFiles(0), []);
    assert.equal(await store.getFile("sent"), undefined);
    assert.ok(await store.getFile("twin"));
    await store.pruneHistory(2_000);
    assert.deepEqual(await store.pruneFiles(0), ["a".repeat(64)]);
    // Never sent: kept until uploaded before the cut-off.
    assert.deepEqual(await store.pruneFiles(2_000), []);
    assert.deepEqual(await store.pruneFiles(2_001), ["c".repeat(64)]);
    assert.equal(await store.fileUsage("alice"), 0);
  });

  test("holds back a record of a blob being removed until it is gone", async (store) => {
    const a = "a".repeat(64);
    assert.equal(await store.putFile(file("old", "alice", 10)), true);
    assert.deepEqual(await store.pruneFiles(Number.MAX_SAFE_INTEGER), [a]);
    // Another node uploads the same bytes while the remover deletes the blob: not yet.
    assert.equal(await store.putFile(file("new", "bob", 10)), false);
    assert.equal(await store.getFile("new"), undefined);
    assert.equal(await store.fileUsage("bob"), 0);
    assert.deepEqual(await store.pruneFiles(Number.MAX_SAFE_INTEGER), [], "handed out once");
    await store.blobsRemoved([a]);
    assert.equal(await store.putFile(file("new", "bob", 10)), true);
    assert.ok(await store.getFile("new"));
    // Recorded again: a prune of other files leaves its blob alone.
    await store.putFile({ ...file("other", "bob", 1, "b".repeat(64)), createdAt: 1 });
    assert.deepEqual(await store.pruneFiles(2), ["b".repeat(64)]);
  });

  test("a one-time file token is taken once, and never after it expires", async (store) => {
    const now = Date.now();
    const download = {
      tokenHash: "h1",
      purpose: "download" as const,
      userKey: "bob",
      fileId: "f1",
      expiresAt: now + 60_000,
    };
    await store.saveFileToken(download);
    await store.saveFileToken({
      ...download,
      tokenHash: "h2",
      fileId: undefined,
      purpose: "upload",
    });
    await store.saveFileToken({ ...download, tokenHash: "old", expiresAt: now - 1 });
    const taken = await Promise.all([store.takeFileToken("h1"), store.takeFileToken("h1")]);
    assert.deepEqual(taken.filter((t) => t !== undefined), [download], "one of two at once");
    assert.equal(await store.takeFileToken("h1"), undefined, "used up");
    assert.deepEqual(await store.takeFileToken("h2"), {
      tokenHash: "h2",
      purpose: "upload",
      userKey: "bob",
      expiresAt: download.expiresAt,
    });
    assert.equal(await store.takeFileToken("old"), undefined, "expired");
    assert.equal(await store.takeFileToken("made-up"), undefined);
  });

  if (factory.reopen) {
    Deno.test(`${name}: rooms, the log, devices and markers survive reopening`, async () => {
      const key = await newKey();
      const store = await factory.open(key);
      await store.createRoom(room("dev", "invite"), "alice");
      await store.invite("dev", "bob", "alice");
      await store.joinRoom("dev", "bob");
      await store.invite("dev", "carol", "alice");
      const r = await store.appendMessage(logMessage("r", roomConv("dev"), "alice", "hi"), "c");
      await store.openDevice("bob", "laptop");
      await store.ackDevice("bob", "laptop", r.seq);
      await store.markRead("bob", roomConv("dev"), r.seq);
      await store.close();
      const again = await factory.reopen!(key);
      try {
        assert.deepEqual((await again.members("dev")).map((m) => m.userKey), ["alice", "bob"]);
        assert.equal(await again.invited("dev", "carol"), true);
        assert.deepEqual((await again.history(roomConv("dev"), undefined, 5)).map((m) => m.text), [
          "hi",
        ]);
        assert.equal((await again.openDevice("bob", "laptop")).cursor, r.seq);
        assert.equal(await again.readMarker("bob", roomConv("dev")), r.seq);
        assert.equal(await again.lastSeq(), r.seq);
        assert.deepEqual(
          await again.appendMessage(logMessage("r2", roomConv("dev"), "alice", "hi"), "c"),
          { seq: r.seq, id: "r", duplicate: true },
        );
      } finally {
        await again.close();
        await factory.cleanup?.();
      }
    });
  }
}
