/**
 * Rooms, history, sync and receipts in real headless Chromium against the real server: two
 * users create, join and talk in rooms; scroll-back keeps the reader's place; two tabs of one
 * user agree on unread counts and the title; receipts reach the sender's tab; a tab closed for a
 * while catches up exactly once.
 */
import assert from "node:assert/strict";
import { PASSWORD } from "../helpers.ts";
import { startWebServer } from "../web_helpers.ts";
import { browserTest } from "./chromium.ts";
import { collectContrast } from "./contrast.ts";
import { PageUser } from "./page_user.ts";

const OUTPUT = new URL("../../test-output/", import.meta.url);

browserTest("browser: two users create, join and talk in rooms", async (browser) => {
  const server = await startWebServer();
  const alice = await PageUser.open(browser, "alice");
  const bob = await PageUser.open(browser, "bob");
  const low: string[] = [];
  try {
    await alice.signIn(server.url, { register: true });
    await bob.signIn(server.url, { register: true });

    // A bad name is refused in words before anything is sent.
    assert.match(await alice.joinRoom("two words", { expectError: true }), /no spaces/);

    // alice creates #dev (she owns it); bob finds it in the dialog's list and joins.
    await alice.joinRoom("dev");
    await alice.page.locator('button.conversation[data-conversation="#dev"]').waitFor();
    await bob.page.click("button.new-room");
    await bob.page.locator('.room-pick[data-room="#dev"]').waitFor();
    await collectContrast(bob.page, "join-or-create dialog", low);
    await bob.page.click('.room-pick[data-room="#dev"]');
    await bob.page.locator(".pane-title", { hasText: "#dev" }).waitFor();

    // The member list, with roles and presence, and the owner's actions.
    await alice.page.click(".room-panel summary");
    await alice.page.locator('.member[data-member="bob"]', { hasText: "member · online" })
      .waitFor();
    await alice.page.locator('.member[data-member="alice"]', { hasText: "owner" }).waitFor();
    await alice.page.locator('.member[data-member="bob"] button', { hasText: "Remove" }).waitFor();

    // The topic reaches every member.
    await alice.page.fill("#room-topic", "shipping on Friday");
    await alice.page.locator(".room-form button", { hasText: "Set topic" }).click();
    await bob.page.locator(".pane-subtitle", { hasText: "shipping on Friday" }).waitFor();

    // Messages both ways, in the room.
    await alice.say("hello room");
    await bob.sees("hello room");
    // bob has it on screen: alice's message shows how many have read it.
    await alice.message("hello room").locator(".status", { hasText: "Read by 1" }).waitFor();
    // Typing shows in the room, to its members.
    await bob.page.fill("#composer-input", "typing into the room");
    await alice.page.locator(".typing-line", { hasText: "bob is typing" }).waitFor();
    await bob.page.fill("#composer-input", "");
    await bob.say("hi alice, hi room");
    const mention = await alice.sees("hi alice, hi room");
    assert.match(await mention.getAttribute("class") ?? "", /mention/);

    // bob elsewhere: a room message counts as unread in his list, a mention with a mark.
    await bob.open("Everyone");
    await alice.say("@bob can you review?");
    // In a room, @name is a mention, not a private message.
    await bob.page.locator('button.conversation[data-conversation="#dev"] .unread.has-mention')
      .waitFor();
    await collectContrast(alice.page, "room with members, topic and a mention", low);
    await collectContrast(bob.page, "room unread with a mention", low);

    // An invite-only room refuses bob, in words; an invitation lets him in.
    await alice.joinRoom("secret", { invite: true });
    assert.match(await bob.joinRoom("secret", { expectError: true }), /invit/i);
    await alice.page.click(".room-panel summary");
    await alice.page.fill("#room-invite", "bob");
    await alice.page.locator(".room-form button", { hasText: "Invite" }).click();
    await bob.page.locator(".invite", { hasText: "#secret" }).waitFor();
    await collectContrast(bob.page, "an invitation", low);
    await bob.page.click('.invite button:has-text("Join")');
    await bob.page.locator(".pane-title", { hasText: "#secret" }).waitFor();

    // The owner hands the room over; bob leaves #dev.
    await alice.page.locator('.member[data-member="bob"] button', { hasText: "Make owner" })
      .click();
    await bob.page.locator(".room-panel summary", { hasText: "you own this room" }).waitFor();
    await bob.open("#dev");
    await bob.page.click(".room-panel summary");
    await bob.page.click("button.leave-room");
    await bob.page.locator('button.conversation[data-conversation="#dev"]')
      .waitFor({ state: "detached" });

    await Deno.mkdir(OUTPUT, { recursive: true });
    await alice.page.screenshot({ path: new URL("rooms.png", OUTPUT).pathname });
    assert.deepEqual(low, [], "texts below 4.5:1");
    assert.deepEqual([...alice.errors, ...bob.errors], [], "errors in the pages");
  } finally {
    await alice.close();
    await bob.close();
    await server.close();
  }
});

browserTest(
  "browser: scroll-back loads older pages and keeps the reader's place",
  async (browser) => {
    // 130 messages from one connection, faster than the default rate allows.
    const server = await startWebServer({ limits: { ratePerSec: 10_000, rateBurst: 10_000 } });
    const alice = await PageUser.open(browser, "alice");
    try {
      // alice's phone (a JSON client with a device) gets 130 lines from tom and acknowledges
      // them: a browser tab that signs in later starts after them, with nothing to catch up.
      const phone = await server.client();
      await phone.register("alice", PASSWORD, "en", "alice-phone");
      const tom = await server.user("tom");
      for (let i = 1; i <= 130; i++) await tom.send("alice", `line ${i}`);
      const last = await phone.nextOf("message", (m) => m.text === "line 130");
      await phone.ackUpTo((last as { seq?: number }).seq!);
      await alice.signIn(server.url);
      // The conversation opens on its last page.
      await alice.open("tom");
      await alice.sees("line 130");
      const list = alice.page.locator("#messages");
      const count = () => alice.page.locator(".messages .message").count();
      const first = await count();
      assert.ok(first < 130, `only the last page at first, not ${first}`);

      // Scrolled to the top: the page before comes in above, and what was on screen stays put.
      for (let page = 0; page < 5 && await count() < 130; page++) {
        const n = await count();
        // Scrolled and measured in one go, before the scroll event can fetch anything.
        const before = await list.evaluate((el) => {
          el.scrollTop = 0;
          const oldest = el.querySelector<HTMLElement>(".message")!;
          return { id: oldest.dataset.id!, y: oldest.getBoundingClientRect().top };
        });
        await alice.page.waitForFunction(
          (n) => document.querySelectorAll(".messages .message").length > n,
          n,
        );
        const after = await alice.page.locator(`.messages .message[data-id="${before.id}"]`)
          .boundingBox();
        assert.ok(after);
        assert.ok(
          Math.abs(after.y - before.y) < 2,
          `the message at the top moved from ${before.y} to ${after.y} as older ones came in`,
        );
      }
      assert.equal(await count(), 130);
      await alice.page.locator(".history-start").waitFor();
      const low: string[] = [];
      await collectContrast(alice.page, "the start of a conversation's history", low);
      assert.deepEqual(low, [], "texts below 4.5:1");
      const texts = await alice.page.locator(".messages .message .text").allInnerTexts();
      assert.deepEqual(texts, Array.from({ length: 130 }, (_, i) => `line ${i + 1}`));
      assert.deepEqual(alice.errors, []);
    } finally {
      await alice.close();
      await server.close();
    }
  },
);

browserTest(
  "browser: two tabs of one user agree on unread counts and the title; receipts reach the sender",
  async (browser) => {
    const server = await startWebServer();
    const alice = await PageUser.open(browser, "alice");
    const bob = await PageUser.open(browser, "bob");
    try {
      await alice.signIn(server.url, { register: true });
      await bob.signIn(server.url, { register: true });
      const second = await alice.newTab(server.url);

      await bob.open("alice");
      await bob.say("first question");
      await bob.say("second question");
      await bob.message("second question").locator(".status", { hasText: "Delivered" })
        .waitFor();
      for (const tab of [alice, second]) {
        await tab.seesUnread("bob", 2);
        await tab.page.waitForFunction(() => document.title === "(2) Parley");
      }

      // A tab without the focus reads nothing, even with the messages on screen.
      await alice.page.evaluate(() => document.hasFocus = () => false);
      await alice.open("bob");
      await alice.sees("second question");
      await alice.seesUnread("bob", 2);
      assert.equal(
        await bob.message("second question").locator(".status").innerText(),
        "Delivered",
      );

      // Read in one tab (back in front): cleared in the other, and bob's tab shows "Read".
      await alice.page.evaluate(() => {
        delete (document as { hasFocus?: unknown }).hasFocus;
        globalThis.dispatchEvent(new Event("focus"));
      });
      await second.page.locator('button.conversation[data-conversation="bob"] .unread')
        .waitFor({ state: "detached" });
      await second.page.waitForFunction(() => document.title === "Parley");
      await bob.message("second question").locator(".status", { hasText: "Read" }).waitFor();
      await bob.message("first question").locator(".status", { hasText: "Read" }).waitFor();
      const low: string[] = [];
      await collectContrast(bob.page, "own messages read", low);
      assert.deepEqual(low, [], "texts below 4.5:1");

      // Read receipts off: read, but bob's tab stays at "Delivered".
      await alice.page.uncheck("#receipts-toggle");
      await second.page.locator("#receipts-toggle:not(:checked)").waitFor();
      await alice.open("Everyone");
      await bob.say("third question");
      await second.seesUnread("bob", 1);
      await alice.open("bob");
      await alice.sees("third question");
      await second.page.locator('button.conversation[data-conversation="bob"] .unread')
        .waitFor({ state: "detached" });
      const third = bob.message("third question").locator(".status");
      await third.filter({ hasText: "Delivered" }).waitFor();
      assert.equal(await third.innerText(), "Delivered");

      // A message from one tab shows in the other, as the user's own.
      await second.open("bob");
      await alice.say("answer from the first tab");
      await second.sees("answer from the first tab");

      assert.deepEqual([...alice.errors, ...second.errors, ...bob.errors], []);
    } finally {
      await alice.close();
      await bob.close();
      await server.close();
    }
  },
);

browserTest("browser: a tab closed for a while catches up exactly once", async (browser) => {
  const server = await startWebServer();
  const alice = await PageUser.open(browser, "alice");
  try {
    await alice.signIn(server.url, { register: true });
    const tom = await server.user("tom");
    const closing = await alice.newTab(server.url);
    await closing.page.close();

    // While that tab is closed (the first stays online), tom writes.
    for (const text of ["away one", "away two", "away three"]) await tom.send("alice", text);
    await alice.seesUnread("tom", 3);

    // Reopened: the tab takes up the closed tab's device and gets what it missed, once.
    const back = await alice.newTab(server.url);
    await back.open("tom");
    for (const text of ["away one", "away two", "away three"]) {
      const m = back.message(text);
      await m.first().waitFor();
      assert.equal(await m.count(), 1, `"${text}" shown once`);
      await m.locator(".tag", { hasText: "while you were away" }).waitFor();
    }
    // Reloaded, the same tab has nothing left to catch up: history shows them, untagged.
    await back.page.reload();
    await back.online();
    await back.open("tom");
    for (const text of ["away one", "away two", "away three"]) {
      const m = back.message(text);
      await m.first().waitFor();
      assert.equal(await m.count(), 1);
      assert.equal(await m.locator(".tag", { hasText: "while you were away" }).count(), 0);
    }
    assert.deepEqual([...alice.errors, ...back.errors], []);
  } finally {
    await alice.close();
    await server.close();
  }
});

browserTest(
  "browser: the bell asks for notifications; mentions and private messages notify in the background",
  async (browser) => {
    const server = await startWebServer();
    const alice = await PageUser.open(browser, "alice");
    try {
      // The browser's Notification, recorded: what was asked, and what was shown.
      await alice.context.addInitScript(() => {
        const calls = { requested: 0, shown: [] as string[] };
        Object.assign(globalThis, { __notifications: calls });
        class Recorded {
          static permission = "default";
          static requestPermission() {
            calls.requested++;
            Recorded.permission = "granted";
            return Promise.resolve("granted");
          }
          onclick: (() => void) | null = null;
          constructor(title: string, options: { body?: string } = {}) {
            calls.shown.push(`${title}: ${options.body}`);
          }
          close() {}
        }
        Object.assign(globalThis, { Notification: Recorded });
      });
      const calls = () =>
        alice.page.evaluate(() =>
          (globalThis as unknown as { __notifications: { requested: number; shown: string[] } })
            .__notifications
        );
      await alice.signIn(server.url, { register: true });
      const tom = await server.user("tom");
      assert.equal((await calls()).requested, 0, "never asked on load");

      await alice.page.click("button.bell");
      await alice.page.locator('button.bell[aria-pressed="true"]').waitFor();
      assert.equal((await calls()).requested, 1);

      // In the foreground: nothing pops up.
      await tom.send("alice", "while you look");
      await alice.seesUnread("tom", 1);
      // In the background: a private message and a mention do; a plain broadcast does not.
      await alice.page.evaluate(() => document.hasFocus = () => false);
      await tom.send("all", "plain news for all");
      await tom.send("alice", "private ping");
      await tom.send("all", "alice, look at this");
      await alice.page.waitForFunction(() =>
        (globalThis as unknown as { __notifications: { shown: string[] } }).__notifications
          .shown.length >= 2
      );
      await alice.sees("alice, look at this");
      assert.deepEqual((await calls()).shown, [
        "tom privately: private ping",
        "tom to everyone: alice, look at this",
      ]);
      // The bell turns them off again.
      await alice.page.click("button.bell");
      await alice.page.locator('button.bell[aria-pressed="false"]').waitFor();
      await tom.send("alice", "not shown");
      await alice.seesUnread("tom", 3);
      assert.equal((await calls()).shown.length, 2);
      assert.deepEqual(alice.errors, []);
    } finally {
      await alice.close();
      await server.close();
    }
  },
);

browserTest(
  "browser: declining an invitation turns it down on the server, for every tab and sign-in",
  async (browser) => {
    const server = await startWebServer();
    const bob = await PageUser.open(browser, "bob");
    try {
      await bob.signIn(server.url, { register: true });
      const other = await bob.newTab(server.url);
      const carol = await server.user("carol");
      await carol.join("secret", "invite");
      await carol.invite("secret", "bob");
      for (const tab of [bob, other]) {
        await tab.page.locator(".invite", { hasText: "#secret" }).waitFor();
      }

      await bob.page.click('.invite button:has-text("Decline")');
      // Gone in the other tab too: the server's `left` (declined) reached every device.
      for (const tab of [bob, other]) {
        await tab.page.locator(".invite", { hasText: "#secret" }).waitFor({ state: "detached" });
      }
      // And at the next sign-in: the room lets bob in no more, and (its answer comes after what
      // the server sends at sign-in) no invitation shows.
      await other.page.reload();
      await other.online();
      assert.match(await other.joinRoom("secret", { expectError: true }), /invit/i);
      assert.equal(await other.page.locator(".invite").count(), 0, "no invitation after reload");
      assert.deepEqual([...bob.errors, ...other.errors], []);
    } finally {
      await bob.close();
      await server.close();
    }
  },
);

browserTest(
  "browser: clicking a notification opens its conversation with its history",
  async (browser) => {
    const server = await startWebServer();
    const alice = await PageUser.open(browser, "alice");
    try {
      await alice.context.addInitScript(() => {
        const shown: { onclick: (() => void) | null }[] = [];
        Object.assign(globalThis, { __shown: shown });
        class Recorded {
          static permission = "granted";
          static requestPermission() {
            return Promise.resolve("granted");
          }
          onclick: (() => void) | null = null;
          constructor() {
            shown.push(this);
          }
          close() {}
        }
        Object.assign(globalThis, { Notification: Recorded });
      });
      // Earlier talk with tom, read on alice's phone: the tab has nothing of it to catch up.
      const phone = await server.client();
      await phone.register("alice", PASSWORD, "en", "alice-phone");
      const tom = await server.user("tom");
      await tom.send("alice", "from last week");
      const old = await phone.nextOf("message", (m) => m.text === "from last week");
      await phone.ackUpTo((old as { seq?: number }).seq!);
      await alice.signIn(server.url);

      await alice.page.evaluate(() => document.hasFocus = () => false);
      await tom.send("alice", "private ping");
      await alice.page.waitForFunction(() =>
        (globalThis as unknown as { __shown: unknown[] }).__shown.length === 1
      );
      await alice.page.evaluate(() =>
        (globalThis as unknown as { __shown: { onclick: () => void }[] }).__shown[0].onclick()
      );
      await alice.page.locator(".pane-title", { hasText: "tom" }).waitFor();
      await alice.sees("private ping");
      // The page before it came in, as when the conversation is opened from the list.
      await alice.sees("from last week");
      const texts = await alice.page.locator(".messages .message .text").allInnerTexts();
      assert.deepEqual(texts, ["from last week", "private ping"]);
      assert.deepEqual(alice.errors, []);
    } finally {
      await alice.close();
      await server.close();
    }
  },
);
