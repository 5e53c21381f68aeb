/**
 * Calls between two real Chromium pages over loopback, with Chromium's fake camera and
 * microphone: the callee accepts, both peer connections connect and receive audio and video,
 * hanging up ends both sides and leaves the call in the conversation; a declined call, a call
 * to someone offline and one to a text-mode user say what happened.
 */
import assert from "node:assert/strict";
import { startWebServer } from "../web_helpers.ts";
import { browserTest, FAKE_MEDIA_ARGS } from "./chromium.ts";
import { PageUser } from "./page_user.ts";
import { collectContrast } from "./contrast.ts";
import {
  connectionState,
  panel,
  received,
  startCall,
  until,
  watchPeerConnections,
} from "./call_user.ts";
import { textUser } from "../raw.ts";
import { MAX_SDP } from "../../lib/router/call_fields.ts";

browserTest(
  "browser calls: a video call connects both ways, and hanging up ends both",
  async (browser) => {
    const server = await startWebServer();
    const alice = await PageUser.open(browser, "alice");
    const bob = await PageUser.open(browser, "bob");
    try {
      for (const u of [alice, bob]) await watchPeerConnections(u);
      await alice.signIn(server.url, { register: true });
      await bob.signIn(server.url, { register: true });
      await alice.seesStatus("bob", "online");
      await alice.open("bob");

      await startCall(alice, "video");
      await panel(alice, "ringing").waitFor();
      const ring = panel(bob, "incoming");
      await ring.waitFor();
      assert.match(await ring.innerText(), /alice[\s\S]*is calling you \(video call\)/);
      assert.equal(await bob.page.title(), "Call from alice · Parley");
      const low: string[] = [];
      await collectContrast(bob.page, "incoming call", low);
      await collectContrast(alice.page, "ringing", low);
      await bob.page.click(".call-panel .call-accept");

      // Both peer connections connect, and each receives the other's audio and video.
      for (const u of [alice, bob]) {
        await until(() => connectionState(u.page), (s) => s === "connected", `${u.name} connected`);
        await until(
          () => received(u.page),
          (r) => r.audio > 0 && r.video > 0,
          `${u.name} receiving audio and video`,
        );
        await panel(u, "connected").locator(".call-duration").waitFor();
      }

      // The descriptions Chromium made (without the candidates, which trickle) fit in a frame.
      for (const u of [alice, bob]) {
        const size = await u.page.evaluate(() =>
          (globalThis as unknown as { __peerConnections: RTCPeerConnection[] }).__peerConnections
            .at(-1)!.localDescription!.sdp.split("\r\n").filter((l) => !l.startsWith("a=candidate"))
            .join("\r\n").length
        );
        assert.ok(size < MAX_SDP, `${u.name}'s description is ${size} characters`);
      }

      await collectContrast(alice.page, "in a call", low);

      // Mute and camera off are toggles the page shows as pressed.
      await alice.page.click(".call-panel .call-mute");
      await alice.page.locator('.call-panel .call-mute[aria-pressed="true"]').waitFor();
      await alice.page.click(".call-panel .call-camera");
      await alice.page.locator('.call-panel .call-camera[aria-pressed="true"]').waitFor();

      // bob hangs up: both panels say so, and both connections are closed.
      await bob.page.click(".call-panel .call-hangup");
      for (const u of [alice, bob]) {
        await panel(u, "ended").locator(".call-ended", { hasText: /Call ended/ }).waitFor();
        await until(() => connectionState(u.page), (s) => s === "closed", `${u.name} closed`);
      }
      // The call stays in the conversation, on both sides, with its length.
      await alice.page.locator('.call-entry[data-outcome="ended"]', {
        hasText: /Video call · \d+:\d\d/,
      })
        .waitFor();
      await bob.open("alice");
      await bob.page.locator('.call-entry[data-outcome="ended"]').waitFor();
      await collectContrast(bob.page, "a call ended, and its entry", low);
      assert.deepEqual(low, [], "every text of a call at 4.5:1 or more, light and dark");
      assert.deepEqual(alice.errors, []);
      assert.deepEqual(bob.errors, []);
    } finally {
      await alice.close();
      await bob.close();
      await server.close();
    }
  },
  { args: FAKE_MEDIA_ARGS },
);

browserTest(
  "browser calls: an offer the server refuses ends the call on both sides, saying why",
  async (browser) => {
    const server = await startWebServer();
    const alice = await PageUser.open(browser, "alice");
    const bob = await PageUser.open(browser, "bob");
    try {
      // alice's browser writes an offer a little over the server's limit, still within a
      // frame (as a browser with many codecs might): the page reads it through this getter.
      await alice.context.addInitScript((max: number) => {
        const proto = RTCPeerConnection.prototype;
        const get = Object.getOwnPropertyDescriptor(proto, "localDescription")!.get!;
        Object.defineProperty(proto, "localDescription", {
          get() {
            const d = get.call(this) as RTCSessionDescription | null;
            if (d?.type !== "offer") return d;
            const line = `a=x-pad:${"x".repeat(100)}\r\n`;
            const pad = line.repeat(Math.ceil((max + 50 - d.sdp.length) / line.length));
            return { type: d.type, sdp: d.sdp + pad };
          },
        });
      }, MAX_SDP);
      await alice.signIn(server.url, { register: true });
      await bob.signIn(server.url, { register: true });
      await alice.open("bob");
      await startCall(alice, "video");
      await panel(bob, "incoming").waitFor();
      await bob.page.click(".call-panel .call-accept");
      await panel(alice, "ended").locator(".call-ended", {
        hasText: new RegExp(
          `The call failed: The session description is \\d+ characters; ` +
            `the limit is ${MAX_SDP}\\.`,
        ),
      }).waitFor();
      await panel(bob, "ended").locator(".call-ended", { hasText: "Call ended." }).waitFor();
      await alice.page.locator('.call-entry[data-outcome="ended"]').waitFor();
      assert.deepEqual(alice.errors, []);
      assert.deepEqual(bob.errors, []);
    } finally {
      await alice.close();
      await bob.close();
      await server.close();
    }
  },
  { args: FAKE_MEDIA_ARGS },
);

browserTest(
  "browser calls: declined, offline and text-mode callees are explained",
  async (browser) => {
    const server = await startWebServer();
    const alice = await PageUser.open(browser, "alice");
    const bob = await PageUser.open(browser, "bob");
    try {
      const carol = await server.user("carol");
      const dora = await textUser(server, "dora");
      await alice.signIn(server.url, { register: true });
      await bob.signIn(server.url, { register: true });

      // Declined: alice is told, and both conversations keep the call.
      await alice.open("bob");
      await startCall(alice, "audio");
      await panel(bob, "incoming").waitFor();
      await bob.page.click(".call-panel .call-decline");
      await panel(alice, "ended").locator(".call-ended", { hasText: "bob declined the call." })
        .waitFor();
      await alice.page.locator('.call-entry[data-outcome="declined"]', {
        hasText: "Voice call · declined",
      }).waitFor();
      await bob.open("alice");
      await bob.page.locator(".call-entry", { hasText: "Voice call · you declined" }).waitFor();

      // Offline: carol signed out; the call is refused in words, nothing rings.
      await carol.send("alice", "back tomorrow");
      await alice.seesUnread("carol", 1);
      await carol.quit();
      await alice.seesStatus("carol", "offline");
      await alice.open("carol");
      await startCall(alice, "video");
      await panel(alice, "ended").locator(".call-ended", {
        hasText: "carol is offline: calls reach only people online.",
      }).waitFor();
      await alice.page.click(".call-panel .call-close");

      // Text mode: dora is told someone tried to call; alice is told why nothing rings.
      await dora.write("@alice hi from nc");
      await alice.seesUnread("dora", 1);
      await alice.open("dora");
      await startCall(alice, "video");
      await panel(alice, "ended").locator(".call-ended", {
        hasText: "dora cannot take calls where they are signed in",
      }).waitFor();
      await dora.waitFor("* alice tried to call you (a video call). Calls work in the browser");
      assert.deepEqual(alice.errors, []);
      assert.deepEqual(bob.errors, []);
    } finally {
      await alice.close();
      await bob.close();
      await server.close();
    }
  },
  { args: FAKE_MEDIA_ARGS },
);

browserTest(
  "browser calls: a refused microphone is explained, and the other side stops ringing",
  async (browser) => {
    const server = await startWebServer();
    const alice = await PageUser.open(browser, "alice");
    const bob = await PageUser.open(browser, "bob");
    try {
      await alice.signIn(server.url, { register: true });
      await bob.signIn(server.url, { register: true });
      await alice.open("bob");
      await startCall(alice, "video");
      await panel(bob, "incoming").waitFor();
      // No fake UI: the browser refuses the camera and microphone, as when the user says no.
      await panel(alice, "ended").locator(".call-ended", {
        hasText: "Parley may not use your microphone or camera. Allow them for this site",
      }).waitFor();
      await panel(bob, "ended").locator(".call-ended", { hasText: "Missed call: alice hung up." })
        .waitFor();
      await bob.open("alice");
      await bob.page.locator(".call-entry", { hasText: "Missed video call" }).waitFor();
      assert.deepEqual(alice.errors, []);
    } finally {
      await alice.close();
      await bob.close();
      await server.close();
    }
  },
  { args: ["--use-fake-device-for-media-stream"] },
);

browserTest(
  "browser calls: a tab in the background notifies the ring, then the missed call",
  async (browser) => {
    const server = await startWebServer();
    const bob = await PageUser.open(browser, "bob");
    try {
      // The browser's Notification, recorded (permission already given).
      await bob.context.addInitScript(() => {
        const shown: string[] = [];
        Object.assign(globalThis, { __shown: shown });
        class Recorded {
          static permission = "granted";
          static requestPermission() {
            return Promise.resolve("granted");
          }
          onclick: (() => void) | null = null;
          constructor(title: string, options: { body?: string } = {}) {
            shown.push(`${title}: ${options.body}`);
          }
          close() {}
        }
        Object.assign(globalThis, { Notification: Recorded });
      });
      const shown = () =>
        bob.page.evaluate(() => (globalThis as unknown as { __shown: string[] }).__shown);
      await bob.signIn(server.url, { register: true });
      // A caller over JSON, as any program that runs WebRTC would be.
      const alice = await server.user("alice");
      await alice.request({ type: "calls", on: true }, "calls");
      await bob.page.evaluate(() => document.hasFocus = () => false);
      const { call } = await alice.request(
        { type: "call_ring", to: "bob", media: "video" },
        "call",
      );
      await panel(bob, "incoming").waitFor();
      await bob.page.waitForFunction(() =>
        (globalThis as unknown as { __shown: string[] }).__shown.length >= 1
      );
      assert.deepEqual(await shown(), ["alice is calling you: Video call: open Parley to answer."]);
      await alice.request({ type: "call_hangup", call }, "call");
      await panel(bob, "ended").locator(".call-ended", { hasText: "Missed call: alice hung up." })
        .waitFor();
      await bob.page.waitForFunction(() =>
        (globalThis as unknown as { __shown: string[] }).__shown.length >= 2
      );
      assert.deepEqual((await shown())[1], "alice privately: Missed video call");
      assert.deepEqual(bob.errors, []);
    } finally {
      await bob.close();
      await server.close();
    }
  },
);
