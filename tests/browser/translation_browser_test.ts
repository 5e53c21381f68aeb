/**
 * The finish line, with every part real: an Apertium APy server (Debian's, started on a
 * free port), the server, an English user on a raw text-mode socket as `nc` would be, and a
 * Spanish user in headless Chromium. Each reads the other in their own language, with the
 * original at hand.
 */
import assert from "node:assert/strict";
import { ApertiumTranslator } from "../../lib/translate/providers/mod.ts";
import { startApertium } from "../apertium.ts";
import { textUser } from "../raw.ts";
import { startWebServer } from "../web_helpers.ts";
import { launchChromium, skipBrowser } from "./chromium.ts";
import { PageUser } from "./page_user.ts";

Deno.test({
  name: "browser: an English nc user and a Spanish browser user read each other via Apertium",
  ignore: skipBrowser,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const apertium = await startApertium();
    const translator = new ApertiumTranslator({ baseUrl: apertium.url });
    await translator.start();
    const server = await startWebServer({ translator });
    const browser = await launchChromium();
    try {
      const sofia = await PageUser.open(browser, "sofia");
      await sofia.signIn(server.url, { register: true, lang: "es" });
      const nc = await textUser(server, "ned", "en");

      // English from nc reaches the browser in Spanish, marked, with the original on demand.
      await nc.write("@all The cat is black");
      const bubble = await sofia.sees("El gato es negro");
      assert.match(await bubble.getAttribute("class") ?? "", /\btranslated\b/);
      await bubble.locator(".translation-label").waitFor();
      const toggle = bubble.locator("button.show-original");
      assert.equal(await toggle.getAttribute("aria-expanded"), "false");
      await toggle.click();
      assert.equal(await bubble.locator(".original").innerText(), "The cat is black");
      assert.equal(await bubble.locator(".original").getAttribute("lang"), "en");

      // Spanish from the browser reaches nc in English, the original after it.
      await sofia.say("El gato es negro");
      await nc.waitFor(/sofia -> all: The cat is black {2}\[es: El gato es negro\]$/);

      // The browser's own message stays as written.
      const own = await sofia.sees("El gato es negro");
      assert.ok(own);
      assert.deepEqual(sofia.errors, []);
    } finally {
      await browser.close();
      await server.close();
      translator.close();
      await apertium.close();
    }
  },
});
