/**
 * One rule for a user's language, in every transport and at registration, sign-in and /lang:
 * the provider's languages when it can say, otherwise ISO 639-1. A bad code is refused and never
 * stored.
 */
import assert from "node:assert/strict";
import { acceptLanguage } from "../lib/accounts/names.ts";
import { parleyLanguagesOf } from "../lib/translate/providers/iso639.ts";
import type { Translator } from "../lib/translate/translator.ts";
import { PASSWORD, withServer } from "./helpers.ts";
import { TEXT_PASSWORD, textUser } from "./raw.ts";

Deno.test("text mode: /lang takes ISO 639-1 codes only; a refused one changes nothing", () =>
  withServer(async (server) => {
    const t = await textUser(server, "tess");
    await t.write("/lang xx");
    await t.waitFor(/^! 'xx' is not a language code; use a two-letter ISO 639-1 code/);
    await t.write("/lang qq-QQ");
    await t.waitFor(/^! 'qq-QQ' is not a language code/);
    assert.equal((await server.store.getUser("tess"))?.lang, "en");
    await t.write("/lang pt-br");
    await t.waitFor("* Your language is now pt-BR.");
    assert.equal((await server.store.getUser("tess"))?.lang, "pt-BR");
  }));

Deno.test("text mode: sign-in refuses a language that is not one, and registers nobody", () =>
  withServer(async (server) => {
    const t = await server.text();
    await t.waitFor("Name:");
    // The terminal client's answers one line off once registered a user with this language.
    await t.write(`/register wes ${TEXT_PASSWORD} pw-tls-secret`);
    await t.waitFor(/^! 'pw-tls-secret' is not a language code/);
    await t.write("wes");
    await t.waitFor("Password for wes:");
    await t.write(TEXT_PASSWORD);
    await t.waitFor("Language [en]");
    await t.write("zz");
    await t.waitFor(/^! 'zz' is not a language code/);
    assert.equal(await server.store.getUser("wes"), undefined);
    await t.write(`/register wes ${TEXT_PASSWORD} fr`);
    await t.waitFor("Your language is fr.");
  }));

Deno.test("JSON mode: register, login and lang refuse a code that is not a language", () =>
  withServer(async (server) => {
    const c = await server.client();
    await assert.rejects(c.register("jo", PASSWORD, "xx"), /bad_argument.*'xx' is not a language/);
    assert.equal(await server.store.getUser("jo"), undefined);
    await c.register("jo", PASSWORD, "de");
    const other = await server.client();
    await assert.rejects(other.login("jo", PASSWORD, "pw-tls-secret"), /bad_argument/);
    assert.equal((await server.store.getUser("jo"))?.lang, "de");
    await assert.rejects(c.setLang("zz"), /bad_argument/);
    assert.equal((await server.store.getUser("jo"))?.lang, "de");
    assert.equal((await c.setLang("en-GB")).lang, "en-GB");
  }));

/** A provider that lists its languages (as Apertium does from its pairs) and echoes texts. */
function listingTranslator(languages: string[] | undefined): Translator {
  return {
    name: "apertium",
    limits: { maxTexts: 1, maxChars: 1000, concurrency: 1 },
    translate: (r) => Promise.resolve(r.texts.map((text) => ({ text }))),
    languages: () => languages && new Set(languages),
  };
}

Deno.test("a provider that lists its languages decides, in both modes and at sign-in", () =>
  withServer(async (server) => {
    const c = await server.client();
    await assert.rejects(
      c.register("ana", PASSWORD, "fr"),
      /'fr' is not a language this server translates; choose one of ast, en, es\./,
    );
    await c.register("ana", PASSWORD, "ast");
    await assert.rejects(c.setLang("de"), /not a language this server translates/);
    assert.equal((await c.setLang("es")).lang, "es");
    const t = await textUser(server, "tom", "en");
    await t.write("/lang it");
    await t.waitFor("! 'it' is not a language this server translates; choose one of ast, en, es.");
    assert.equal((await server.store.getUser("tom"))?.lang, "en");
  }, { translator: listingTranslator(["en", "es", "ast"]) }));

Deno.test("a provider that cannot say (yet) leaves ISO 639-1 as the rule", () =>
  withServer(async (server) => {
    const c = await server.client();
    await c.register("ana", PASSWORD, "fr");
    await assert.rejects(c.setLang("ast"), /'ast' is not a language code/);
  }, { translator: listingTranslator(undefined) }));

Deno.test("acceptLanguage() and the languages of Apertium's pairs", () => {
  assert.equal(acceptLanguage("PT-br"), "pt-BR");
  assert.throws(() => acceptLanguage("xx"), /'xx' is not a language code/);
  assert.equal(acceptLanguage("ast", new Set(["ast"])), "ast");
  assert.deepEqual(
    [...parleyLanguagesOf(["eng", "spa", "eng_US", "hbs_HR", "sat"])].sort(),
    ["bs", "en", "es", "hr", "sat", "sr"],
  );
});
