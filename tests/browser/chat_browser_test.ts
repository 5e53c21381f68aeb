/**
 * The browser client in real headless Chromium: two browser users and one TCP user chat in
 * every direction, see each other's presence and typing, get offline messages after login,
 * survive a server restart, and never have a message run as HTML.
 */
import assert from "node:assert/strict";
import { startWebServer } from "../web_helpers.ts";
import { browserTest } from "./chromium.ts";
import { PageUser } from "./page_user.ts";

const OUTPUT = new URL("../../test-output/", import.meta.url);
const XSS = "<img src=x onerror=alert(1)>";

/** Polls `check` until it holds (for state outside the page), up to 5 s. */
async function waitFor(check: () => Promise<boolean>, what = "condition"): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

browserTest(
  "browser: two browser users and a TCP user chat in every direction",
  async (browser) => {
    const server = await startWebServer();
    const alice = await PageUser.open(browser, "alice");
    const carol = await PageUser.open(browser, "carol");
    try {
      const tom = await server.user("tom");
      await alice.signIn(server.url, { register: true });
      await carol.signIn(server.url, { register: true, lang: "fr" });

      // Presence, live: each sees the others online, including the TCP user.
      await alice.seesStatus("carol", "online");
      await alice.seesStatus("tom", "online");
      await carol.seesStatus("alice", "online");

      // Broadcast from a browser reaches the other browser and TCP.
      await alice.say("hello everyone");
      await carol.sees("hello everyone");
      const m1 = await tom.nextOf("message", (m) => m.text === "hello everyone");
      assert.equal(m1.from, "alice");
      assert.equal(m1.to, "all");
      const own = await alice.sees("hello everyone");
      await own.locator(".status", { hasText: "Delivered" }).waitFor();
      assert.match(await own.locator(".audience").innerText(), /to everyone/);

      // Broadcast from TCP reaches both browsers.
      await tom.send("all", "tom here, over TCP");
      await alice.sees("tom here, over TCP");
      await carol.sees("tom here, over TCP");

      // Private, browser to browser, by clicking the user.
      await alice.open("carol");
      await alice.say("just for you, carol");
      await carol.seesUnread("alice", 1);
      await carol.open("alice");
      const priv = await carol.sees("just for you, carol");
      assert.match(await priv.locator(".audience").innerText(), /privately to you/);
      await carol.page.locator('button.conversation[data-conversation="alice"] .unread')
        .waitFor({ state: "detached" });

      // Private, browser to TCP, by typing @name in any conversation.
      await carol.open("Everyone");
      await carol.say("@tom bonjour tom");
      const m2 = await tom.nextOf("message", (m) => m.text === "bonjour tom");
      assert.equal(m2.from, "carol");
      assert.equal(m2.to, "tom");
      await carol.open("tom");
      await (await carol.sees("bonjour tom")).locator(".status", { hasText: "Delivered" })
        .waitFor();

      // Private, TCP to browser.
      await tom.send("alice", "private from tcp");
      await alice.seesUnread("tom", 1);
      await alice.open("tom");
      await alice.sees("private from tcp");

      // Browser to browser the other way, and to TCP from the first browser.
      await carol.open("alice");
      await carol.say("merci alice");
      await alice.open("carol");
      await alice.sees("merci alice");
      // Shift+Enter starts a new line; Enter sends.
      await carol.page.fill("#composer-input", "line one");
      await carol.page.press("#composer-input", "Shift+Enter");
      await carol.page.locator("#composer-input").pressSequentially("line two");
      assert.equal(await carol.page.inputValue("#composer-input"), "line one\nline two");
      await carol.page.press("#composer-input", "Enter");
      assert.equal(
        await (await alice.sees("line two")).locator(".text").textContent(),
        "line one\nline two",
      );
      assert.equal(await carol.page.inputValue("#composer-input"), "");
      await alice.say("@tom and one for tom");
      assert.equal(
        (await tom.nextOf("message", (m) => m.text === "and one for tom")).from,
        "alice",
      );
      // A private message reaches nobody else.
      assert.equal(
        tom.buffered.some((e) => e.type === "message" && e.text.includes("carol")),
        false,
      );

      // A person with nc, in text mode, chats with a browser user both ways.
      const nina = await server.text();
      await nina.waitFor("Name:");
      await nina.write("/register nina correct-horse");
      await nina.waitFor("Welcome, nina!");
      await alice.seesStatus("nina", "online");
      await nina.write("@alice hello from nc");
      await alice.seesUnread("nina", 1);
      await alice.open("nina");
      await alice.sees("hello from nc");
      await alice.say("hello nina, from the browser");
      await nina.waitFor(/alice -> you: hello nina, from the browser$/);
      await alice.open("carol");

      // Typing shows in the other window, and stops by itself.
      await carol.page.fill("#composer-input", "I am typing a long answer");
      await alice.seesStatus("carol", "typing to you");
      await alice.page.locator(".typing-line", { hasText: "carol is typing" }).waitFor();
      await carol.page.fill("#composer-input", "");
      await alice.seesStatus("carol", "online");
      await alice.open("Everyone");
      tom.typing("all", true);
      await alice.page.locator(".typing-line", { hasText: "tom is typing" }).waitFor();
      await alice.seesStatus("tom", "typing");

      // Markup in a message is text, never HTML.
      await tom.send("all", XSS);
      const xss = await alice.sees("onerror");
      assert.equal(await xss.locator(".text").textContent(), XSS);
      await carol.open("Everyone");
      assert.equal(await (await carol.sees("onerror")).locator(".text").textContent(), XSS);
      await alice.say(XSS);
      assert.equal(
        (await tom.nextOf("message", (m) => m.from === "alice" && m.text === XSS)).to,
        "all",
      );
      assert.equal(await alice.page.locator(".messages img").count(), 0);
      assert.equal(await carol.page.locator(".messages img").count(), 0);
      assert.deepEqual([...alice.dialogs, ...carol.dialogs], []);

      // Offline: carol signs out; what alice and tom send waits, and arrives after her login.
      await carol.page.click("button.logout");
      await carol.page.locator("#login-name").waitFor();
      await Deno.mkdir(OUTPUT, { recursive: true });
      await carol.page.screenshot({ path: new URL("login.png", OUTPUT).pathname });
      await alice.seesStatus("carol", "offline");
      await alice.open("carol");
      await alice.say("see this when you are back");
      await (await alice.sees("see this when you are back"))
        .locator(".status", { hasText: "Stored until they sign in" }).waitFor();
      const stored = await tom.send("carol", "tom left you a note");
      assert.equal(stored.status, "stored");
      await carol.signIn(server.url);
      await carol.seesUnread("tom", 1);
      await carol.open("alice");
      const away = await carol.sees("see this when you are back");
      await away.locator(".tag", { hasText: "while you were away" }).waitFor();
      await carol.open("tom");
      await carol.sees("tom left you a note");
      await alice.seesStatus("carol", "online");

      // The language picker changes the preferred language on the server.
      await carol.page.selectOption(".lang-picker select", "de");
      await waitFor(async () => (await server.store.getUser("carol"))?.lang === "de", "lang de");
      assert.equal(await carol.page.inputValue(".lang-picker select"), "de");

      // A reload signs in again from the cookie, without the password.
      await carol.page.reload();
      await carol.online();
      assert.equal(await carol.page.locator("#login-name").count(), 0);
      assert.equal(await carol.page.locator(".me-name").innerText(), "carol");

      // A picture of the conversation, light and dark.
      await Deno.mkdir(OUTPUT, { recursive: true });
      await alice.open("Everyone");
      for (const scheme of ["light", "dark"] as const) {
        await alice.page.emulateMedia({ colorScheme: scheme });
        await alice.page.screenshot({ path: new URL(`chat-${scheme}.png`, OUTPUT).pathname });
      }
      // On a phone the conversations are a drawer behind a button.
      await alice.page.setViewportSize({ width: 390, height: 760 });
      const drawer = alice.page.locator("#people-panel");
      await drawer.waitFor({ state: "hidden" });
      await alice.page.screenshot({
        path: new URL("chat-phone.png", OUTPUT).pathname,
        animations: "disabled",
      });
      await alice.page.click("button.people-toggle");
      await drawer.waitFor({ state: "visible" });
      await alice.open("carol");
      await drawer.waitFor({ state: "hidden" });
      assert.deepEqual([...alice.errors, ...carol.errors], []);
    } finally {
      await alice.close();
      await carol.close();
      await server.close();
    }
  },
);

browserTest(
  "browser: reconnects after the server restarts, losing nothing typed",
  async (browser) => {
    const dataDir = await Deno.makeTempDir({ prefix: "parley-browser-" });
    let server = await startWebServer({ dataDir });
    const alice = await PageUser.open(browser, "alice");
    try {
      await alice.signIn(server.url, { register: true });
      await server.user("tom");
      await alice.seesStatus("tom", "online");

      // The server goes away: the banner says so, and what is typed stays.
      const port = server.httpPort;
      await server.close({ removeData: false });
      await alice.page.locator('.banner[data-state="offline"]', { hasText: "Connection lost" })
        .waitFor();
      await alice.page.fill("#composer-input", "half a thought");
      await alice.open("tom");
      await alice.say("sent while the server was down");
      const pending = await alice.sees("sent while the server was down");
      await pending.locator(".status", { hasText: "Sending" }).waitFor();

      // Back on the same port with the same data: the cookie signs in again, the queued message
      // goes out, and the draft of the other conversation is still there.
      server = await startWebServer({ dataDir, httpPort: port });
      const tom = await server.user("tom", { login: true });
      await alice.online();
      await pending.locator(".status", { hasText: /Delivered|Stored/ }).waitFor();
      // Live, or replayed at tom's login when alice came back first.
      const got = await tom.nextOf("message", (m) => m.text === "sent while the server was down");
      assert.equal(got.from, "alice");
      await alice.open("Everyone");
      assert.equal(await alice.page.inputValue("#composer-input"), "half a thought");
      await alice.page.locator(".banner.hidden").waitFor({ state: "attached" });
    } finally {
      await alice.close();
      await server.close();
    }
  },
);
