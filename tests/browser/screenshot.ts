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

  await bob.send("all", "Morning all! Who's up for the release review at 11?");
  await alice.sees("release review");
  await alice.say("Count me in. I'll bring the notes from yesterday.");
  await alice.message("bring the notes").locator(".status", { hasText: "Delivered" }).waitFor();
  await carol.send("all", "Me too — and the new login page is live on staging!");
  await alice.sees("staging");
  await bob.send("all", "Nice! Works from my phone as well.");
  await alice.sees("my phone");
  await alice.say("@dave we moved the review to 11, see you there");
  await alice.open("dave");
  await alice.message("see you there").locator(".status", { hasText: "Stored" }).waitFor();
  await alice.open("Everyone");
  await carol.send("alice", "Can you look at my pull request after lunch?");
  await alice.seesUnread("carol", 1);
  bob.typing("all", true);
  await alice.page.locator(".typing-line", { hasText: "bob is typing" }).waitFor();
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
