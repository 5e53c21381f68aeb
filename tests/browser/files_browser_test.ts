/**
 * Sharing files in real headless Chromium: a 10 MiB file by the attach button, a picture by
 * paste, a file by drag and drop; the recipient on another page sees the preview at its size
 * before it loads and downloads the same bytes; a third user cannot; an oversized file is
 * refused in words; an upload can be cancelled; the data directory shows no file content.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Page } from "playwright-core";
import { startWebServer } from "../web_helpers.ts";
import { browserTest } from "./chromium.ts";
import { PageUser } from "./page_user.ts";
import { cookieFor, filesHolding, png, randomBytes, sha256 } from "../file_helpers.ts";

const MIB = 1024 * 1024;

/** Drops or pastes `bytes` as a file named `name` onto the page, as a user's gesture would. */
async function give(
  page: Page,
  how: "paste" | "drop",
  name: string,
  type: string,
  bytes: Uint8Array,
): Promise<void> {
  await page.evaluate(
    ({ how, name, type, data }) => {
      const file = new File([new Uint8Array(data)], name, { type });
      const dt = new DataTransfer();
      dt.items.add(file);
      if (how === "paste") {
        const input = document.querySelector("#composer-input")!;
        input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true }));
        return;
      }
      const target = document.querySelector("#messages")!;
      for (const type of ["dragenter", "dragover", "drop"]) {
        target.dispatchEvent(
          new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }),
        );
      }
    },
    { how, name, type, data: Array.from(bytes) },
  );
}

browserTest(
  "browser: files and pictures go to a person, with previews, and to nobody else",
  async (browser) => {
    const server = await startWebServer({ files: { maxFileBytes: 11 * MIB } });
    const alice = await PageUser.open(browser, "alice");
    const bob = await PageUser.open(browser, "bob");
    const csp: string[] = [];
    for (const u of [alice, bob]) {
      u.page.on("console", (m) => {
        if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
      });
    }
    try {
      await alice.signIn(server.url, { register: true });
      await bob.signIn(server.url, { register: true });
      await alice.open("bob");
      await bob.open("alice");

      // 10 MiB by the attach button.
      const big = randomBytes(10 * MIB);
      await alice.page.setInputFiles("#file-input", {
        name: "data.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(big),
      });
      const own = alice.page.locator(".message.own .file-link", { hasText: "data.bin" });
      await own.waitFor({ timeout: 30_000 });
      // Delivered, or Read already: bob has the conversation open.
      await alice.page.locator(".message.own .status", { hasText: /Delivered|Read/ }).first()
        .waitFor({ timeout: 30_000 });
      const link = bob.page.locator(".message .file-link a", { hasText: "data.bin" });
      await link.waitFor({ timeout: 30_000 });
      assert.match(await bob.page.locator(".message .file-link").innerText(), /data\.bin\s*10 MiB/);
      const [download] = await Promise.all([bob.page.waitForEvent("download"), link.click()]);
      assert.equal(download.suggestedFilename(), "data.bin");
      const saved = await Deno.readFile((await download.path())!);
      assert.equal(sha256(saved), sha256(big));

      // A picture pasted into the input: bob sees its preview, its box sized before it loads.
      const picture = png(400, 300);
      await give(alice.page, "paste", "image.png", "image/png", picture);
      const img = bob.page.locator(".file-preview img");
      await img.waitFor({ timeout: 15_000 });
      // Scaled on the client into 320x240, proportions kept, from the size the message carries.
      assert.equal(await img.getAttribute("width"), "320");
      assert.equal(await img.getAttribute("height"), "240");
      await bob.page.waitForFunction(() => {
        const i = document.querySelector<HTMLImageElement>(".file-preview img");
        return i !== null && i.complete && i.naturalWidth === 400 && i.naturalHeight === 300;
      });
      const box = await img.boundingBox();
      assert.ok(
        box && Math.round(box.width) === 320 && Math.round(box.height) === 240,
        JSON.stringify(box),
      );
      assert.match(await bob.page.locator(".file-preview figcaption").innerText(), /400×300/);
      const src = await img.getAttribute("src");
      const picBytes = await bob.page.evaluate(async (url) => {
        const res = await fetch(url!);
        return Array.from(new Uint8Array(await res.arrayBuffer()));
      }, src);
      assert.equal(sha256(new Uint8Array(picBytes)), sha256(picture));

      // A file dropped on the page; an SVG is a link, never rendered inline.
      const svg = new TextEncoder().encode(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
      );
      await give(alice.page, "drop", "drawing.svg", "image/svg+xml", svg);
      await bob.page.locator(".message .file-link a", { hasText: "drawing.svg" }).waitFor();
      assert.equal(await bob.page.locator(".file-preview img").count(), 1, "only the PNG previews");

      // Carol, who is in neither conversation, gets no file.
      const carolCookie = await cookieFor(server.url, "carol");
      const res = await fetch(`${server.url}${src}`, { headers: { cookie: carolCookie } });
      assert.equal(res.status, 404);
      await res.body?.cancel();

      // Too large: refused before a byte is sent, with the server's words.
      await alice.page.setInputFiles("#file-input", {
        name: "huge.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(randomBytes(12 * MIB)),
      });
      const refusal = alice.page.locator(".upload.failed .upload-error");
      await refusal.waitFor();
      assert.equal(await refusal.innerText(), "The file is 12 MiB; files can be at most 11 MiB.");
      await alice.page.click(".upload.failed .upload-dismiss");
      await refusal.waitFor({ state: "detached" });

      // Cancel: an upload slowed down to a crawl is stopped, and nothing is sent.
      const cdp = await alice.context.newCDPSession(alice.page);
      await cdp.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput: 64 * 1024,
      });
      await alice.page.setInputFiles("#file-input", {
        name: "slow.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(randomBytes(4 * MIB)),
      });
      await alice.page.locator(".upload progress").waitFor();
      await alice.page.click(".upload-cancel");
      await alice.page.locator(".upload").waitFor({ state: "detached" });
      await cdp.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput: -1,
      });
      assert.equal(await alice.page.locator(".file-link", { hasText: "slow.bin" }).count(), 0);

      // A copy of the data directory shows nothing of what was shared.
      assert.deepEqual(await filesHolding(server.dataDir, big), []);
      assert.deepEqual(await filesHolding(server.dataDir, picture), []);
      assert.deepEqual(csp, [], "no Content-Security-Policy violation");
      assert.deepEqual(alice.dialogs.concat(bob.dialogs), []);
      assert.deepEqual(alice.errors.concat(bob.errors), []);
    } finally {
      await alice.close();
      await bob.close();
      await server.close();
    }
  },
);

browserTest("browser: a picture shared in a room reaches its members", async (browser) => {
  const server = await startWebServer();
  const alice = await PageUser.open(browser, "alice");
  const bob = await PageUser.open(browser, "bob");
  try {
    await alice.signIn(server.url, { register: true });
    await bob.signIn(server.url, { register: true });
    await alice.joinRoom("dev");
    await bob.joinRoom("dev");
    await give(alice.page, "drop", "dot.png", "image/png", png(64, 48));
    const img = bob.page.locator(".file-preview img");
    await img.waitFor({ timeout: 15_000 });
    assert.equal(await img.getAttribute("width"), "64");
    assert.equal(await img.getAttribute("height"), "48");
  } finally {
    await alice.close();
    await bob.close();
    await server.close();
  }
});
