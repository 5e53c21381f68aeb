/**
 * The people in the side bar, in real headless Chromium: who is online and who the user has
 * talked to, never every account; anyone else found by a search on the server, a page at a
 * time; and presence shown as unknown while the connection is down.
 */
import assert from "node:assert/strict";
import { startWebServer } from "../web_helpers.ts";
import { browserTest } from "./chromium.ts";
import { collectContrast } from "./contrast.ts";
import { PageUser } from "./page_user.ts";

browserTest(
  "browser: the list shows who is online and who you talked to; a search finds anyone",
  async (browser) => {
    const server = await startWebServer();
    const alice = await PageUser.open(browser, "alice");
    try {
      for (let i = 0; i < 30; i++) {
        await (await server.user(`user${String(i).padStart(2, "0")}`)).quit();
      }
      await (await server.user("zoe")).quit();
      await server.user("tom");
      await alice.signIn(server.url, { register: true });
      const page = alice.page;
      const row = (name: string) =>
        page.locator(`button.conversation[data-conversation="${name}"]`);

      // Online people are listed; registered accounts nobody talked to are not.
      await alice.seesStatus("tom", "online");
      assert.equal(await row("zoe").count(), 0);
      assert.equal(await row("user00").count(), 0);

      // A search on the server finds zoe; opening her lets alice write to her.
      await page.fill("#people-search-input", "ZO");
      await page.locator(".search-results", { hasText: "Names starting with" }).waitFor();
      await row("zoe").locator(".conversation-detail", { hasText: "offline" }).waitFor();
      await row("zoe").click();
      await page.locator(".pane-title", { hasText: "zoe" }).waitFor();
      assert.equal(await page.inputValue("#people-search-input"), "");
      await alice.say("hi zoe, found you");
      await alice.message("found you").locator(".status", { hasText: "Stored" }).waitFor();
      // From now on she is listed, also after a reload (kept in this browser).
      await alice.seesStatus("zoe", "offline");
      await page.reload();
      await alice.online();
      await alice.seesStatus("zoe", "offline");
      assert.equal(await row("user00").count(), 0);

      // She gets it, and her coming online shows.
      const zoe = await server.user("zoe", { login: true });
      assert.equal(
        (await zoe.nextOf("message", (m) => m.from === "alice")).text,
        "hi zoe, found you",
      );
      await alice.seesStatus("zoe", "online");

      // Pages of 20: "Show more" adds the next.
      await page.fill("#people-search-input", "user");
      await row("user19").waitFor();
      assert.equal(await page.locator(".search-results button.conversation").count(), 20);
      await page.click("button.search-more");
      await row("user29").waitFor();
      assert.equal(await page.locator(".search-results button.conversation").count(), 30);
      assert.equal(await page.locator("button.search-more").count(), 0);

      // Nobody found says so; Escape clears the search and brings the list back.
      await page.fill("#people-search-input", "nobody-here");
      await page.locator(".search-results", { hasText: "Nobody's name starts with" }).waitFor();
      await page.press("#people-search-input", "Escape");
      await alice.seesStatus("tom", "online");
      assert.deepEqual(alice.errors, []);
    } finally {
      await alice.close();
      await server.close();
    }
  },
);

browserTest(
  "browser: while the connection is down, presence shows as unknown until it is back",
  async (browser) => {
    const dataDir = await Deno.makeTempDir({ prefix: "parley-browser-" });
    let server = await startWebServer({ dataDir });
    const alice = await PageUser.open(browser, "alice");
    try {
      await (await server.user("tom")).quit();
      await alice.signIn(server.url, { register: true });
      await server.user("tom", { login: true });
      await alice.seesStatus("tom", "online");
      await alice.open("tom");
      const page = alice.page;
      const subtitle = page.locator(".pane-subtitle");
      await subtitle.filter({ hasText: "online" }).waitFor();

      // The server goes away (and tom with it): nobody is shown online any more.
      const port = server.httpPort;
      await server.close({ removeData: false });
      await page.locator('.banner[data-state="offline"]').waitFor();
      await alice.seesStatus("tom", "reconnecting…");
      await alice.seesStatus("Everyone", "reconnecting…");
      await page.locator('button.conversation[data-conversation="tom"] .presence-dot.unknown')
        .waitFor();
      await subtitle.filter({ hasText: "reconnecting…" }).waitFor();
      assert.equal(await page.locator(".conversation-detail", { hasText: /^online$/ }).count(), 0);
      const low: string[] = [];
      await collectContrast(page, "connection down", low);
      assert.deepEqual(low, [], "every text at 4.5:1 or more");

      // Back, without tom: the refreshed list says he is offline.
      server = await startWebServer({ dataDir, httpPort: port });
      await alice.online();
      await alice.seesStatus("tom", "offline");
      await subtitle.filter({ hasText: "offline" }).waitFor();
      assert.equal(await page.locator(".presence-dot.unknown").count(), 0);
      // And when he comes back, that shows.
      await server.user("tom", { login: true });
      await alice.seesStatus("tom", "online");
      assert.deepEqual(alice.errors, []);
    } finally {
      await alice.close();
      await server.close();
    }
  },
);
