/**
 * The "done when", end to end, with every part real: Parley as a child process, nina on
 * a raw TCP socket in text mode (as `nc`), tess on the terminal client (`client.ts` as a child
 * process fed lines), bea in headless Chromium. They talk in a room and privately, read history,
 * bea's private message to tess goes delivered → read, bea's second tab catches up exactly once
 * after being closed, and a SIGKILL and restart of the server loses no message and no member.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { build } from "../../build.ts";
import { TextSocket, within } from "../helpers.ts";
import { freePort } from "../apertium.ts";
import { spawnServer } from "../process_helpers.ts";
import { TEXT_PASSWORD } from "../raw.ts";
import { ClientProcess } from "../terminal_process.ts";
import { browserTest } from "./chromium.ts";
import { PageUser } from "./page_user.ts";

/** Long enough for a client's reconnect backoff to find the restarted server. */
const RECONNECT_MS = 30_000;

/** Signs nina in over a fresh text-mode socket (registering her the first time). */
async function ncSignIn(port: number, how: "register" | "login"): Promise<TextSocket> {
  const nc = await TextSocket.connect(port);
  await nc.waitFor("Name:");
  await nc.write(`/${how} nina ${TEXT_PASSWORD}`);
  await nc.waitFor(/^\* (Registered\. )?Welcome/);
  // The welcome's last line.
  await nc.waitFor(/^\* (Translation is off|Messages in other languages)/);
  return nc;
}

/** Runs a text-mode command and collects the lines up to the one matching `last`. */
async function ncLines(nc: TextSocket, command: string, last: RegExp): Promise<string[]> {
  // What came before the command is not its answer.
  while (nc.lines.length) await nc.nextLine();
  await nc.write(command);
  const lines: string[] = [];
  while (true) {
    const line = await within(nc.nextLine(), 10_000, `an answer to ${command}`);
    if (line === null) {
      throw new Error(`connection ended before ${last}; got:\n${lines.join("\n")}`);
    }
    lines.push(line);
    if (last.test(line)) return lines;
  }
}

/** The texts of the messages shown in the open conversation, in order. */
function shownTexts(page: Page): Promise<string[]> {
  return page.locator(".messages .message .text").allInnerTexts();
}

/** Waits until the open conversation shows every one of `texts`; returns all it shows. */
async function waitForAll(page: Page, texts: string[]): Promise<string[]> {
  await page.waitForFunction(
    (wanted) => {
      const shown = [...document.querySelectorAll(".messages .message .text")]
        .map((e) => e.textContent ?? "");
      return wanted.every((t) => shown.includes(t));
    },
    texts,
    { timeout: RECONNECT_MS },
  );
  return await shownTexts(page);
}

browserTest(
  "end to end: nc, the terminal client and a browser talk with history, receipts, sync and a restart",
  async (browser) => {
    await build({ ifStale: true, quiet: true });
    const dataDir = await Deno.makeTempDir({ prefix: "parley-e2e-" });
    // Fixed ports, so the clients that reconnect by themselves find the restarted server.
    const ports = ["--tcp-port", String(freePort()), "--http-port", String(freePort())];
    let server = await spawnServer(dataDir, ports);
    const bea = await PageUser.open(browser, "bea");
    let nc: TextSocket | undefined;
    let term: ClientProcess | undefined;
    try {
      assert.ok(server.httpUrl, `no browser client served:\n${server.output()}`);
      const url = server.httpUrl;
      const tcp = server.tcpPort;

      // Three people, three ways in. tess's account is made in text mode, then she uses the
      // terminal client.
      nc = await ncSignIn(tcp, "register");
      const made = await TextSocket.connect(tcp);
      await made.waitFor("Name:");
      await made.write(`/register tess ${TEXT_PASSWORD}`);
      await made.waitFor("Registered. Welcome, tess!");
      await made.write("/quit");
      await made.waitClosed();
      term = new ClientProcess(tcp);
      await term.type("tess", TEXT_PASSWORD, "");
      await term.waitFor("Welcome back, tess!");
      await bea.signIn(url, { register: true });

      // A room: bea creates it in the browser, nina and tess join from their ends.
      await bea.joinRoom("team");
      await nc.write("/join #team");
      await nc.waitFor("* You are in #team");
      await term.type("/join #team");
      await term.waitFor(/You are in #team|joined #team|Joined #team/);
      await bea.page.locator(".room-panel summary", { hasText: "3" }).waitFor();

      await nc.write("#team hello from nc");
      await bea.sees("hello from nc");
      await term.waitFor(/#team nina: hello from nc/);
      await term.type("#team hello from the terminal");
      await nc.waitFor("#team tess: hello from the terminal");
      await bea.sees("hello from the terminal");
      await bea.say("hello from the browser");
      await nc.waitFor("#team bea: hello from the browser");
      await term.waitFor(/#team bea: hello from the browser/);

      // Privately, every pair in both directions that the issue names.
      await nc.write("@bea only for bea");
      await nc.waitFor("(delivered to bea)");
      await bea.seesUnread("nina", 1);
      await term.type("@nina only for nina");
      await nc.waitFor("tess -> you: only for nina");

      // bea writes to tess privately; her message goes delivered, then read once the terminal
      // shows it. Every state the message's status takes is recorded as the page renders it.
      await bea.open("tess");
      await bea.page.evaluate(() => {
        const seen: string[] = [];
        Object.assign(globalThis, { __statuses: seen });
        const record = () => {
          const mine = [...document.querySelectorAll(".messages .message")].find((m) =>
            m.querySelector(".text")?.textContent === "only for tess"
          );
          const status = mine?.querySelector(".status")?.textContent;
          if (status && seen.at(-1) !== status) seen.push(status);
        };
        new MutationObserver(record).observe(document.body, {
          subtree: true,
          childList: true,
          characterData: true,
        });
      });
      await bea.say("only for tess");
      await term.waitFor(/bea (->|→) you: only for tess/);
      await bea.message("only for tess").locator(".status", { hasText: "Read" }).waitFor();
      const statuses = await bea.page.evaluate(() =>
        (globalThis as unknown as { __statuses: string[] }).__statuses
      );
      const delivered = statuses.findIndex((s) => s.includes("Delivered"));
      assert.ok(
        delivered >= 0 && delivered < statuses.findIndex((s) => s.includes("Read")),
        `delivered, then read: ${statuses.join(" → ")}`,
      );

      // History: text mode pages back through the room, oldest first.
      const room = ["hello from nc", "hello from the terminal", "hello from the browser"];
      const history = await ncLines(nc, "/history #team", /start of the conversation|Older lines/);
      const said = (lines: string[]) =>
        lines.filter((l) => l.startsWith("[")).map((l) => l.replace(/^\[[^\]]+\] #team \S+: /, ""));
      assert.deepEqual(said(history), room, history.join("\n"));
      // The terminal asks for its private history.
      await term.type("/history @bea");
      await term.waitFor(/History of @?bea/);

      // bea's second tab, then closed for a while.
      const second = await bea.newTab(url);
      await second.open("#team");
      await waitForAll(second.page, room);
      await second.page.close();
      const missed = ["while the tab was closed, from nc", "while the tab was closed, from tess"];
      await nc.write(`#team ${missed[0]}`);
      await term.type(`#team ${missed[1]}`);
      await nc.write("@bea a private one while you were away");
      await bea.page.locator('button.conversation[data-conversation="#team"]').waitFor();
      await bea.seesUnread("nina", 2);
      await bea.open("#team");
      await waitForAll(bea.page, missed);

      // Reopened, it gets what it missed, once each, and nothing else twice.
      const back = await bea.newTab(url);
      await back.open("#team");
      const shown = await waitForAll(back.page, [...room, ...missed]);
      assert.deepEqual(shown, [...room, ...missed], "the room in the reopened tab");
      for (const text of missed) {
        await back.message(text).locator(".tag", { hasText: "while you were away" }).waitFor();
      }
      await back.open("nina");
      const privately = ["only for bea", "a private one while you were away"];
      assert.deepEqual(await waitForAll(back.page, privately), privately);

      // The server dies without warning and comes back on the same data and ports.
      assert.equal((await server.stop("SIGKILL")).signal, "SIGKILL");
      server = await spawnServer(dataDir, ports);
      assert.equal(server.tcpPort, tcp);

      // nina signs in again: the history is all there, and so is every member.
      nc.close();
      nc = await ncSignIn(tcp, "login");
      const after = await ncLines(nc, "/history #team", /start of the conversation|Older lines/);
      assert.deepEqual(said(after), [...room, ...missed], after.join("\n"));
      const members = await ncLines(nc, "/members #team", /^\* #team \(/);
      assert.match(members.at(-1)!, /^\* #team \(3\): .*bea.*you.*tess|^\* #team \(3\)/);

      // The terminal and the browser reconnect by themselves; a room message reaches both.
      await back.online();
      await nc.write("#team back after the restart");
      await term.waitFor(/#team nina: back after the restart/, RECONNECT_MS);
      await back.open("#team");
      await waitForAll(back.page, ["back after the restart"]);
      // A reload reads the room from the store: everything, once, in order.
      await back.page.reload();
      await back.online();
      await back.open("#team");
      const reloaded = await waitForAll(back.page, [...room, ...missed, "back after the restart"]);
      assert.deepEqual(reloaded, [...room, ...missed, "back after the restart"]);
      // The terminal showed each room line once, its own included, across the crash.
      const printed = term.output.split("\n");
      for (const text of [...room, ...missed, "back after the restart"]) {
        assert.equal(printed.filter((l) => l.endsWith(`: ${text}`)).length, 1, `"${text}" once`);
      }

      assert.equal((await term.end()).code, 0);
      assert.deepEqual([...bea.errors, ...second.errors, ...back.errors], [], "errors in pages");
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\n--- the terminal client printed:\n${term?.output}` +
          `\n--- nc got:\n${nc?.lines.join("\n")}`,
      );
    } finally {
      nc?.close();
      await term?.dispose();
      await bea.close();
      await server.stop("SIGTERM");
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
);
