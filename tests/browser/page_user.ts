/** A person using the chat window in a real browser tab, in the words of the tests. */
import assert from "node:assert/strict";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { PASSWORD } from "../helpers.ts";
import { startWebServer, type WebServer } from "../web_helpers.ts";

export class PageUser {
  readonly page: Page;
  readonly context: BrowserContext;
  readonly name: string;
  /** Text of every dialog the page tried to open (an XSS would show up here). */
  readonly dialogs: string[] = [];
  /** Uncaught errors in the page. */
  readonly errors: string[] = [];

  private constructor(context: BrowserContext, page: Page, name: string) {
    this.context = context;
    this.page = page;
    this.name = name;
    page.on("dialog", (d) => {
      this.dialogs.push(d.message());
      void d.dismiss();
    });
    page.on("pageerror", (e) => this.errors.push(e.message));
  }

  /** A fresh browser profile (own cookies) with one tab. */
  static async open(browser: Browser, name: string): Promise<PageUser> {
    const context = await browser.newContext({ viewport: { width: 1180, height: 760 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    return new PageUser(context, page, name);
  }

  /** Opens the page and signs in through the form (registering when `register`). */
  async signIn(url: string, options: { register?: boolean; lang?: string } = {}) {
    if (!this.page.url().startsWith(url)) await this.page.goto(url);
    await this.page.fill("#login-name", this.name);
    await this.page.fill("#login-password", PASSWORD);
    if (options.lang) await this.page.selectOption("#login-lang", options.lang);
    await this.page.click(options.register ? "button[value=register]" : "button[value=login]");
    await this.online();
  }

  /** Waits until the window is connected and signed in. */
  async online() {
    await this.page.locator('.banner[data-state="online"]').waitFor({ state: "attached" });
  }

  /** Opens a conversation from the side bar: a user's name, or `Everyone`. */
  async open(conversation: string) {
    await this.page.click(`button.conversation[data-conversation="${conversation}"]`);
    await this.page.locator(".pane-title", { hasText: conversation }).waitFor();
  }

  /** Types into the input line and presses Enter. */
  async say(text: string) {
    await this.page.fill("#composer-input", text);
    await this.page.press("#composer-input", "Enter");
  }

  /** The message bubble with `text` in the open conversation. */
  message(text: string) {
    return this.page.locator(".messages .message").filter({
      has: this.page.locator(".text", { hasText: text }),
    });
  }

  /** Waits for a message with `text` in the open conversation; returns its bubble. */
  async sees(text: string) {
    const m = this.message(text);
    await m.first().waitFor();
    return m.first();
  }

  /** The status line of a person in the side bar (online, offline, typing…). */
  statusOf(name: string) {
    return this.page.locator(
      `button.conversation[data-conversation="${name}"] .conversation-detail`,
    );
  }

  /** Waits until the side bar shows `name` with a status containing `text`. */
  async seesStatus(name: string, text: string) {
    await this.page.locator(`button.conversation[data-conversation="${name}"]`, {
      has: this.page.locator(".conversation-detail", { hasText: text }),
    }).waitFor();
  }

  /** Waits until a conversation shows `count` unread messages. */
  async seesUnread(conversation: string, count: number) {
    await this.page.locator(`button.conversation[data-conversation="${conversation}"] .unread`, {
      hasText: String(count),
    }).waitFor();
  }

  /** Another tab of the same browser profile (same cookie), signed in as this user. */
  async newTab(url: string): Promise<PageUser> {
    const page = await this.context.newPage();
    page.setDefaultTimeout(10_000);
    const tab = new PageUser(this.context, page, this.name);
    await page.goto(url);
    await tab.online();
    return tab;
  }

  /**
   * Joins (or creates) `#room` through the dialog; `invite` makes a new room invite-only. Waits
   * until it is open, unless `expectError`: then returns the dialog's error, in words.
   */
  async joinRoom(
    room: string,
    options: { invite?: boolean; expectError?: boolean } = {},
  ): Promise<string> {
    await this.page.click("button.new-room");
    await this.page.fill("#room-name", room);
    if (options.invite) await this.page.check("input[name=room-visibility][value=invite]");
    await this.page.click(".room-dialog button[type=submit]");
    if (options.expectError) {
      const error = this.page.locator(".room-dialog .dialog-error:not(:empty)");
      await error.waitFor();
      const text = await error.innerText();
      await this.page.click(".room-dialog button.secondary");
      return text;
    }
    await this.page.locator(".pane-title", { hasText: `#${room}` }).waitFor();
    return "";
  }

  async close() {
    await this.context.close();
  }
}

/**
 * A fresh server and `name` registered on it in a browser tab; both closed after `fn`, which
 * must leave no error in the page.
 */
export async function withSignedIn(
  browser: Browser,
  name: string,
  fn: (server: WebServer, user: PageUser) => Promise<void>,
): Promise<void> {
  const server = await startWebServer();
  const user = await PageUser.open(browser, name);
  try {
    await user.signIn(server.url, { register: true });
    await fn(server, user);
    assert.deepEqual(user.errors, [], "errors in the page");
  } finally {
    await user.close();
    await server.close();
  }
}
