/**
 * Translation through the whole server: real TCP clients (JSON and text mode), a real SQLite
 * store for the durable cache, and a loopback server that speaks Google's v2 API.
 */
import assert from "node:assert/strict";
import type { MessageEvent } from "../lib/protocol/types.ts";
import { GoogleTranslator } from "../lib/translate/providers/mod.ts";
import { type FakeGoogle, startFakeGoogle } from "./fakes/google_v2.ts";
import { PASSWORD, startServer, withServer } from "./helpers.ts";
import { textUser } from "./raw.ts";

async function withFake(fn: (fake: FakeGoogle) => Promise<void>): Promise<void> {
  const fake = await startFakeGoogle();
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

const google = (fake: FakeGoogle) =>
  new GoogleTranslator({ apiKey: fake.apiKey, baseUrl: fake.url });

/** Provider calls that carried texts (not counting failures queued on purpose). */
const calls = (fake: FakeGoogle) => fake.requests.filter((r) => r.path.endsWith("/v2"));

Deno.test("a broadcast costs one provider call per reader language, and readers get their own", () =>
  withFake((fake) =>
    withServer(async (server) => {
      const alice = await server.user("alice", { lang: "en" });
      const es1 = await server.user("esther", { lang: "es" });
      const es2 = await server.user("esteban", { lang: "es" });
      const fr = await server.user("francoise", { lang: "fr" });
      const en = await server.user("edward", { lang: "en" });
      const esText = await textUser(server, "elena", "es");

      const sent = await alice.send("all", "Good morning, everyone");
      assert.equal(sent.recipients, 5);

      const mine = await en.nextOf("message");
      assert.equal(mine.text, "Good morning, everyone");
      assert.equal(mine.lang, "en");
      assert.equal(mine.original, undefined, "a reader of the sender's language gets it as is");

      for (const c of [es1, es2]) {
        const m = await c.nextOf("message");
        assert.equal(m.text, "es:Good morning, everyone");
        assert.equal(m.lang, "es");
        assert.deepEqual(m.original, {
          text: "Good morning, everyone",
          lang: "en",
          provider: "google",
        });
      }
      assert.equal((await fr.nextOf("message")).text, "fr:Good morning, everyone");
      await esText.waitFor(
        /alice -> all: es:Good morning, everyone {2}\[en: Good morning, everyone\]$/,
      );

      const made = calls(fake);
      assert.equal(made.length, 2, "one call for es, one for fr: never one per reader");
      assert.deepEqual(made.map((r) => r.target).sort(), ["es", "fr"]);
      for (const r of made) {
        assert.equal(r.key, fake.apiKey);
        assert.equal(r.format, "text");
        assert.equal(r.source, "en");
        assert.deepEqual(r.q, ["Good morning, everyone"]);
      }

      // The same words again: answered from the cache, no provider call.
      await alice.send("all", "Good morning, everyone");
      assert.equal((await es1.nextOf("message")).text, "es:Good morning, everyone");
      assert.equal((await fr.nextOf("message")).text, "fr:Good morning, everyone");
      assert.equal(calls(fake).length, 2);
    }, { translator: google(fake) })
  ));

Deno.test("the translation cache is durable: after a restart a repeated message costs no call", () =>
  withFake(async (fake) => {
    const first = await startServer({ translator: google(fake) });
    const dataDir = first.dataDir;
    try {
      const alice = await first.user("alice", { lang: "en" });
      const bob = await first.user("bob", { lang: "de" });
      await alice.send("bob", "See you tomorrow");
      assert.equal((await bob.nextOf("message")).text, "de:See you tomorrow");
    } finally {
      await first.close({ removeData: false });
    }
    assert.equal(calls(fake).length, 1);
    await withServer(async (server) => {
      const alice = await server.user("alice", { lang: "en", login: true });
      const bob = await server.user("bob", { lang: "de", login: true });
      await alice.send("bob", "See you tomorrow");
      assert.equal((await bob.nextOf("message")).text, "de:See you tomorrow");
      assert.equal(calls(fake).length, 1, "answered from the store's cache");
    }, { dataDir, translator: google(fake) });
  }));

Deno.test("mentions, links, rooms and code reach the provider masked and come back intact", () =>
  withFake((fake) =>
    withServer(async (server) => {
      const alice = await server.user("alice", { lang: "en" });
      const bob = await server.user("bob", { lang: "es" });
      const text =
        "@bob read https://example.com/a?b=c&d=1 in #dev-room, run `deno task test` now.";
      await alice.send("bob", text);
      const m = await bob.nextOf("message");
      assert.equal(m.text, `es:${text}`);
      const q = calls(fake)[0].q[0];
      for (const part of ["@bob", "https://example.com", "#dev-room", "deno task test"]) {
        assert.ok(!q.includes(part), `'${part}' was not sent for translation: ${q}`);
      }
      assert.match(q, /⟦0⟧ read ⟦1⟧ in ⟦2⟧, run ⟦3⟧ now\./);
    }, { translator: google(fake) })
  ));

Deno.test("a failing provider still delivers: the original, marked untranslated with the reason", () =>
  withFake((fake) =>
    withServer(async (server) => {
      const alice = await server.user("alice", { lang: "en" });
      const bob = await server.user("bob", { lang: "es" });
      const carol = await textUser(server, "carol", "es");

      fake.failNext("server_error");
      await alice.send("all", "first");
      const m = await bob.nextOf("message");
      assert.equal(m.text, "first");
      assert.equal(m.lang, "en");
      assert.equal(m.untranslated, "unavailable");
      assert.equal(m.original, undefined);
      await carol.waitFor(/alice -> all: first {2}\[not translated: the translator failed\]$/);

      fake.failNext("hang");
      const started = performance.now();
      await alice.send("all", "second");
      const late = await bob.nextOf("message", (e) => e.text === "second");
      assert.equal(late.untranslated, "timeout");
      const waited = performance.now() - started;
      assert.ok(waited >= 250 && waited < 3000, `delivered after the 300 ms timeout (${waited})`);

      // Two failures in a row open the breaker (the timed-out call is aborted a moment after the
      // message went out): the next message is not even sent to Google.
      for (let i = 0; i < 100 && server.router.translation.health().state !== "paused"; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const before = calls(fake).length;
      const third = await alice.send("all", "third");
      const paused = await bob.nextOf("message", (e) => e.id === third.id);
      assert.equal(paused.untranslated, "paused");
      assert.equal(calls(fake).length, before);
      const health = server.router.translation.health();
      assert.equal(health.state, "paused");
      assert.ok(health.retryAt && health.lastError);

      const metrics = server.router.metrics.render();
      assert.match(metrics, /parley_translation_untranslated_total\{reason="paused"\} 1/);
      assert.match(
        metrics,
        /parley_translation_calls_total\{provider="google",outcome="unavailable"\} 1/,
      );
      assert.match(
        metrics,
        /parley_translation_calls_total\{provider="google",outcome="timeout"\} 1/,
      );
      assert.match(metrics, /parley_translation_state\{provider="google",state="paused"\} 1/);
    }, {
      translator: google(fake),
      translateTimeoutMs: 300,
      breaker: { threshold: 2, cooldownMs: 60_000 },
    })
  ));

Deno.test("readers of the sender's language do not wait for a slow translation", () =>
  withFake((fake) =>
    withServer(async (server) => {
      const alice = await server.user("alice", { lang: "en" });
      const ed = await server.user("ed", { lang: "en-GB" });
      const bob = await server.user("bob", { lang: "es" });
      fake.setDelay(400);
      const started = performance.now();
      await alice.send("all", "quick");
      await ed.nextOf("message");
      const fast = performance.now() - started;
      const translated = await bob.nextOf("message");
      const slow = performance.now() - started;
      assert.ok(fast < 300, `the English reader got it at once (${fast} ms)`);
      assert.ok(slow >= 350, `the Spanish reader got it translated (${slow} ms)`);
      assert.equal(translated.text, "es:quick");
    }, { translator: google(fake) })
  ));

Deno.test("one sender's translated messages keep their order for each reader", () =>
  withFake((fake) =>
    withServer(async (server) => {
      const alice = await server.user("alice", { lang: "en" });
      const bob = await server.user("bob", { lang: "es" });
      const texts = Array.from({ length: 12 }, (_, i) => `message number ${i}`);
      await Promise.all(texts.map((t) => alice.send("bob", t)));
      const got: MessageEvent[] = [];
      for (const _ of texts) got.push(await bob.nextOf("message"));
      assert.deepEqual(got.map((m) => m.text), texts.map((t) => `es:${t}`));
    }, { translator: google(fake) })
  ));

Deno.test("stored messages are translated at delivery into the reader's language of that moment", () =>
  withFake((fake) =>
    withServer(async (server) => {
      const alice = await server.user("alice", { lang: "en" });
      const bob = await server.user("bob", { lang: "es" });
      bob.close();
      await bob.closed;
      await alice.send("bob", "one");
      await alice.send("bob", "two");
      // Bob comes back reading French now.
      const again = await server.client();
      const welcome = await again.login("bob", PASSWORD, "fr");
      assert.equal(welcome.pending, 2);
      const [a, b] = [await again.nextOf("message"), await again.nextOf("message")];
      assert.deepEqual([a.text, b.text], ["fr:one", "fr:two"]);
      assert.equal(a.offline, true);
      assert.deepEqual(a.original, { text: "one", lang: "en", provider: "google" });
      const made = calls(fake);
      assert.equal(made.length, 1, "the batch of stored messages went out in one call");
      assert.deepEqual(made[0].q, ["one", "two"]);
      assert.equal(made[0].target, "fr");
    }, { translator: google(fake) })
  ));

Deno.test("text mode can hide originals; welcome says which translator is on", () =>
  withFake((fake) =>
    withServer(async (server) => {
      const alice = await server.user("alice", { lang: "en" });
      const t = await server.text();
      await t.waitFor("Name:");
      await t.write(`/register carla ${PASSWORD.replace(" ", "-")} es`);
      await t.waitFor("translated into es (google); /originals off hides the originals.");
      await t.write("/originals off");
      await t.waitFor("only the translation");
      await alice.send("all", "hello");
      await t.waitFor(/alice -> all: es:hello {2}\[en\]$/);
      await t.write("/originals maybe");
      await t.waitFor("Usage: /originals on|off");
    }, { translator: google(fake) })
  ));

Deno.test("with translation off, welcome says so once and messages carry their language", () =>
  withServer(async (server) => {
    const alice = await server.user("alice", { lang: "en" });
    const bob = await server.client();
    const welcome = await bob.register("bob", PASSWORD, "es");
    assert.equal(welcome.translation, "off");
    await alice.send("bob", "hello");
    const m = await bob.nextOf("message");
    assert.equal(m.text, "hello");
    assert.equal(m.lang, "en");
    assert.equal(m.untranslated, undefined, "no marker on every message when translation is off");
    const t = await server.text();
    await t.waitFor("Name:");
    await t.write(`/register carl ${PASSWORD.replace(" ", "-")} de`);
    await t.waitFor("Translation is off on this server: messages arrive as written.");
  }));

Deno.test("history is translated on read, into the reader's language of now, through the cache", () =>
  withFake((fake) =>
    withServer(async (server) => {
      const alice = await server.user("alice", { lang: "en" });
      const bob = await server.user("bob", { lang: "es" });
      await alice.send("bob", "See you at noon");
      assert.equal((await bob.nextOf("message")).text, "es:See you at noon");
      const live = calls(fake).length;
      // bob's page comes in Spanish from the cache: no new provider call.
      const page = await bob.request({ type: "history", with: "@alice" }, "history");
      assert.deepEqual(page.messages.map((m) => [m.text, m.original?.text]), [
        ["es:See you at noon", "See you at noon"],
      ]);
      assert.equal(calls(fake).length, live, "served from the cache");
      // alice reads her own words as written; bob, now in French, reads French.
      const own = await alice.request({ type: "history", with: "bob" }, "history");
      assert.deepEqual(own.messages.map((m) => [m.text, m.original]), [[
        "See you at noon",
        undefined,
      ]]);
      await bob.setLang("fr");
      const again = await bob.request({ type: "history", with: "@alice" }, "history");
      assert.equal(again.messages[0].text, "fr:See you at noon");
    }, { translator: google(fake) })
  ));
