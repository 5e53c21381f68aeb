/**
 * Makes the README's pictures of the chat window, light and dark:
 *
 *   deno run -A tests/browser/screenshot.ts     writes docs/screenshot.png, docs/screenshot-dark.png
 */
import { startWebServer } from "../web_helpers.ts";
import { launchChromium } from "./chromium.ts";
import { PageUser } from "./page_user.ts";

const DOCS = new URL("../../docs/", import.meta.url);

const server = await startWebServer();
const browser = await launchChromium();
try {
  const dave = await server.user("dave");
  await dave.quit();
  const bob = await server.user("bob", { lang: "es" });
  const carol = await server.user("carol", { lang: "fr" });
  const alice = await PageUser.open(browser, "alice");
  await alice.page.setViewportSize({ width: 1200, height: 720 });
  await alice.signIn(server.url, { register: true });
  await alice.seesStatus("carol", "online");

  // Two rooms: #release, where the conversation is, and #design, with news in it.
  await alice.joinRoom("design");
  await alice.joinRoom("release");
  await alice.page.click(".room-panel summary");
  await alice.page.fill("#room-topic", "Release review at 11 · notes in the wiki");
  await alice.page.locator(".room-form button", { hasText: "Set topic" }).click();
  await alice.page.click(".room-panel summary");
  for (const c of [bob, carol]) {
    await c.join("release");
    await c.join("design");
  }
  await bob.send("#release", "Morning all! Who's up for the release review at 11?");
  await alice.sees("release review");
  await alice.say("Count me in. I'll bring the notes from yesterday.");
  const own = alice.message("bring the notes");
  await own.locator(".status", { hasText: "Sent" }).waitFor();
  const sent = await bob.nextOf("message", (m) => m.text.includes("bring the notes"));
  const seq = (sent as { seq?: number }).seq!;
  await bob.read("#release", seq);
  await carol.read("#release", seq);
  await own.locator(".status", { hasText: "Read by 2" }).waitFor();
  await carol.send("#release", "Me too, and alice: the new login page is live on staging!");
  await alice.sees("staging");
  await bob.send("#design", "New icons are up for review");
  await alice.seesUnread("#design", 1);
  await carol.send("alice", "Can you look at my pull request after lunch?");
  await alice.seesUnread("carol", 1);
  bob.typing("#release", true);
  await alice.page.fill("#composer-input", "Sounds good");

  await Deno.mkdir(DOCS, { recursive: true });
  for (const [scheme, file] of [["light", "screenshot.png"], ["dark", "screenshot-dark.png"]]) {
    await alice.page.emulateMedia({ colorScheme: scheme as "light" | "dark" });
    await alice.page.screenshot({ path: new URL(file, DOCS).pathname, animations: "disabled" });
    console.log(`wrote docs/${file}`);
  }
  await alice.close();
} finally {
  await browser.close();
  await server.close();
}
