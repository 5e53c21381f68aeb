/**
 * The chat window for everyone, in real headless Chromium: text laid out in its own direction,
 * every text at 4.5:1 contrast or more in light and dark, skip links and a drawer that can be
 * closed, and a composer that counts bytes as the server does and never cuts what was typed.
 */
import assert from "node:assert/strict";
import { TranslateError } from "../../lib/translate/translator.ts";
import type { Translator } from "../../lib/translate/translator.ts";
import { startWebServer } from "../web_helpers.ts";
import { browserTest } from "./chromium.ts";
import { collectContrast } from "./contrast.ts";
import { PageUser, withSignedIn } from "./page_user.ts";

/** Translates by tagging the text; cannot translate from French (an "untranslated" note). */
const tagger: Translator = {
  name: "google",
  limits: { maxTexts: 16, maxChars: 10_000, concurrency: 2 },
  supports: (source) => source !== "fr",
  translate(request) {
    if (request.source === "fr") throw new TranslateError("unsupported", "no French");
    return Promise.resolve(request.texts.map((text) => ({ text: `(${request.target}) ${text}` })));
  },
};

browserTest("browser: every text has 4.5:1 contrast or more, light and dark", async (browser) => {
  const server = await startWebServer({ translator: tagger });
  const low: string[] = [];
  const alice = await PageUser.open(browser, "alice");
  const visitor = await PageUser.open(browser, "visitor");
  try {
    // The sign-in form, and its error.
    await visitor.page.goto(server.url);
    await visitor.page.locator("#login-name").waitFor();
    await collectContrast(visitor.page, "sign-in form", low);
    await visitor.page.fill("#login-name", "nobody");
    await visitor.page.fill("#login-password", "wrong password");
    await visitor.page.click("button[value=login]");
    await visitor.page.locator(".login-error").waitFor();
    await collectContrast(visitor.page, "sign-in error", low);

    await (await server.user("dave")).quit();
    const bob = await server.user("bob", { lang: "es" });
    const carol = await server.user("carol", { lang: "fr" });
    await alice.signIn(server.url, { register: true });
    await alice.seesStatus("carol", "online");

    // Every kind of message and status: translated (original shown), untranslated, own
    // delivered, stored and refused, unread, typing.
    await bob.send("all", "hola a todos");
    const translated = await alice.sees("(en) hola a todos");
    await translated.locator("button.show-original").click();
    await translated.locator(".original").waitFor();
    await carol.send("all", "bonjour");
    await (await alice.sees("bonjour")).locator(".untranslated-note").waitFor();
    await alice.say("hello both");
    await alice.message("hello both").locator(".status", { hasText: "Delivered" }).waitFor();
    await alice.say("@nobody are you there");
    await alice.say("@dave see you at 11");
    await carol.send("alice", "psst");
    await alice.seesUnread("carol", 1);
    bob.typing("all", true);
    await alice.page.locator(".typing-line", { hasText: "bob is typing" }).waitFor();
    await collectContrast(alice.page, "everyone, with messages", low);

    // The selected conversation with someone online (its "online" was 4.41:1), a stored and a
    // refused message, and a draft over the limit.
    await alice.open("nobody");
    await alice.message("are you there").locator(".status", { hasText: "Not sent" }).waitFor();
    await alice.open("dave");
    await alice.message("see you at 11").locator(".status", { hasText: "Stored" }).waitFor();
    await collectContrast(alice.page, "private conversation, stored", low);
    await alice.open("bob");
    await alice.page.fill("#composer-input", "x".repeat(5000));
    await alice.page.locator(".composer-budget.over").waitFor();
    await collectContrast(alice.page, "selected conversation, draft over the limit", low);

    // Search results, with a "Show more".
    for (let i = 0; i < 21; i++) await (await server.user(`dan${i}`)).quit();
    await alice.page.fill("#people-search-input", "da");
    await alice.page.locator("button.search-more").waitFor();
    await collectContrast(alice.page, "search results", low);
    await alice.page.fill("#people-search-input", "");

    // The skip link, once focused.
    await alice.page.locator(".skip-link").first().focus();
    await collectContrast(alice.page, "skip link focused", low);
    await alice.page.locator("#composer-input").focus();

    // A phone, with the drawer open.
    await alice.page.setViewportSize({ width: 390, height: 760 });
    await alice.page.click("button.people-toggle");
    await alice.page.locator("#people-panel").waitFor({ state: "visible" });
    // Slid all the way in.
    await alice.page.waitForFunction(() =>
      getComputedStyle(document.getElementById("people-panel")!).transform === "none"
    );
    await collectContrast(alice.page, "phone drawer", low);
    assert.deepEqual(low, [], "every text at 4.5:1 or more");
    assert.deepEqual([...alice.errors, ...visitor.errors], []);
  } finally {
    await alice.close();
    await visitor.close();
    await server.close();
  }
});

browserTest(
  "browser: messages, names and the composer take the text's own direction",
  (browser) =>
    withSignedIn(browser, "alice", async (server, alice) => {
      const bob = await server.user("bob");
      const arabic = "مرحبا بالجميع";
      await bob.send("all", arabic);
      const bubble = await alice.sees(arabic);
      await alice.say("שלום לכולם");
      const own = await alice.sees("שלום לכולם");

      for (
        const locator of [
          bubble.locator(".text"),
          bubble.locator(".sender"),
          own.locator(".text"),
          alice.page.locator("#composer-input"),
          alice.page.locator('button.conversation[data-conversation="bob"] .conversation-name'),
          alice.page.locator(".pane-title"),
          alice.page.locator("#people-search-input"),
        ]
      ) {
        assert.equal(await locator.getAttribute("dir"), "auto", String(locator));
      }
      // And the browser lays the Arabic out right to left.
      assert.equal(
        await bubble.locator(".text").evaluate((e) => getComputedStyle(e).direction),
        "rtl",
      );
      await alice.page.fill("#composer-input", arabic);
      assert.equal(
        await alice.page.locator("#composer-input").evaluate((e) => getComputedStyle(e).direction),
        "rtl",
      );
    }),
);

browserTest(
  "browser: skip links reach the input and the messages; the drawer closes",
  (browser) =>
    withSignedIn(browser, "alice", async (_server, alice) => {
      const page = alice.page;

      // The skip links come first in the tab order: the first thing a keyboard reaches.
      const first = await page.evaluate(() =>
        document.querySelector("a[href], button, input, textarea, select, [tabindex]")?.textContent
      );
      assert.equal(first?.trim(), "Skip to the message input");
      const skip = page.locator(".skip-link", { hasText: "Skip to the message input" });
      const toMessages = page.locator(".skip-link", { hasText: "Skip to the messages" });
      // Out of sight until focused; then on screen.
      assert.ok(((await skip.boundingBox())?.y ?? 0) < 0, "hidden above the page until focused");
      await skip.focus();
      const box = (await skip.boundingBox())!;
      assert.ok(box.y >= 0 && box.height > 0, "the focused skip link is on screen");
      await page.keyboard.press("Tab");
      assert.ok(await toMessages.evaluate((e) => e === document.activeElement));

      // Enter on each moves the focus to its target.
      await page.keyboard.press("Enter");
      assert.equal(await page.evaluate(() => document.activeElement?.id), "messages");
      await skip.focus();
      await page.keyboard.press("Enter");
      assert.equal(await page.evaluate(() => document.activeElement?.id), "composer-input");

      // On a phone the drawer has its own visible close button, which hands the focus back.
      await page.setViewportSize({ width: 390, height: 760 });
      const drawer = page.locator("#people-panel");
      const close = page.locator("button.people-close");
      await drawer.waitFor({ state: "hidden" });
      await page.click("button.people-toggle");
      await drawer.waitFor({ state: "visible" });
      await close.waitFor({ state: "visible" });
      assert.equal(await close.getAttribute("aria-label"), "Close the list of conversations");
      const closeBox = (await close.boundingBox())!;
      assert.ok(closeBox.width >= 24 && closeBox.height >= 24, "a target big enough to hit");
      await close.click();
      await drawer.waitFor({ state: "hidden" });
      assert.ok(
        await page.locator("button.people-toggle").evaluate((e) => e === document.activeElement),
      );
      // Wide again: no close button where there is no drawer.
      await page.setViewportSize({ width: 1180, height: 760 });
      await close.waitFor({ state: "hidden" });
    }),
);

browserTest(
  "browser: the composer counts UTF-8 bytes and never cuts a long text",
  (browser) =>
    withSignedIn(browser, "alice", async (server, alice) => {
      const bob = await server.user("bob");
      const page = alice.page;
      const input = page.locator("#composer-input");
      const budget = page.locator("#composer-budget");
      const send = page.locator("button.send");

      // A 5,000-character paste (through the real clipboard): kept whole, 904 bytes over,
      // cannot be sent.
      const long = "a".repeat(5000);
      await alice.context.grantPermissions(["clipboard-read", "clipboard-write"]);
      await page.evaluate((text) => navigator.clipboard.writeText(text), long);
      await input.focus();
      await page.keyboard.press("ControlOrMeta+V");
      assert.equal((await input.inputValue()).length, 5000);
      await budget.filter({ hasText: "904 bytes over" }).waitFor();
      assert.equal(await send.isDisabled(), true);
      await page.press("#composer-input", "Enter");
      assert.equal((await input.inputValue()).length, 5000, "Enter does not send nor cut it");
      assert.equal(await page.locator(".messages .message").count(), 0);

      // Far from the limit: nothing said, and it can be sent.
      await page.fill("#composer-input", "short");
      assert.equal((await budget.innerText()).trim(), "");
      assert.equal(await send.isDisabled(), false);

      // 3,000 × "é" is 3,000 characters but 6,000 bytes: over, too.
      await page.fill("#composer-input", "é".repeat(3000));
      assert.equal(await input.inputValue(), "é".repeat(3000));
      await budget.filter({ hasText: "1904 bytes over" }).waitFor();
      assert.equal(await send.isDisabled(), true);

      // Near the limit it says what is left; at the limit exactly it sends, whole.
      await page.fill("#composer-input", "é".repeat(1990));
      await budget.filter({ hasText: "116 bytes left" }).waitFor();
      const full = "é".repeat(2048);
      await page.fill("#composer-input", full);
      await budget.filter({ hasText: "0 bytes left" }).waitFor();
      assert.equal(await send.isDisabled(), false);
      await page.press("#composer-input", "Enter");
      const got = await bob.nextOf("message", (m) => m.from === "alice");
      assert.equal(got.text, full);
      assert.equal(await input.inputValue(), "");
    }),
);
