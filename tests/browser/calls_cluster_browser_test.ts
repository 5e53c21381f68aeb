/**
 * A call between two real Chromium pages signed in on two nodes of one service (two routers in
 * this process sharing one store and an in-process bus, each with its own HTTP listener): the
 * ring crosses nodes, the callee accepts on the other node, both peer connections connect and
 * receive audio and video, hanging up ends both, and the call's entry shows once on each side.
 * The same over Redis is tested at the protocol level (tests/cluster_redis_test.ts).
 */
import assert from "node:assert/strict";
import { InProcessBusHub } from "../../lib/bus/mod.ts";
import { startWebServer } from "../web_helpers.ts";
import { browserTest, FAKE_MEDIA_ARGS } from "./chromium.ts";
import { PageUser } from "./page_user.ts";
import {
  connectionState,
  panel,
  received,
  startCall,
  until,
  watchPeerConnections,
} from "./call_user.ts";

browserTest(
  "browser calls across two nodes: the callee on the other node answers, media flows, hanging up ends both",
  async (browser) => {
    const hub = new InProcessBusHub();
    const a = await startWebServer({ node: { bus: hub.join("node-a") } });
    const b = await startWebServer({
      dataDir: a.dataDir,
      node: { bus: hub.join("node-b"), store: a.store },
    });
    const alice = await PageUser.open(browser, "alice");
    const bob = await PageUser.open(browser, "bob");
    try {
      for (const u of [alice, bob]) await watchPeerConnections(u);
      await alice.signIn(a.url, { register: true });
      await bob.signIn(b.url, { register: true });
      await alice.seesStatus("bob", "online");
      // Node a rings bob's tab once node b has said it takes calls.
      await until(
        () => Promise.resolve(a.router.cluster.remote.callNodes("bob").length),
        (n) => n === 1,
        "bob's tab takes calls, as node a knows",
      );
      await alice.open("bob");
      await startCall(alice, "video");
      await panel(alice, "ringing").waitFor();
      await panel(bob, "incoming").waitFor();
      await bob.page.click(".call-panel .call-accept");
      for (const u of [alice, bob]) {
        await until(() => connectionState(u.page), (s) => s === "connected", `${u.name} connected`);
        await until(
          () => received(u.page),
          (r) => r.audio > 0 && r.video > 0,
          `${u.name} receiving audio and video`,
        );
      }
      await bob.page.click(".call-panel .call-hangup");
      for (const u of [alice, bob]) {
        await panel(u, "ended").locator(".call-ended", { hasText: /Call ended/ }).waitFor();
        await until(() => connectionState(u.page), (s) => s === "closed", `${u.name} closed`);
      }
      await alice.page.locator('.call-entry[data-outcome="ended"]').waitFor();
      await bob.open("alice");
      await bob.page.locator('.call-entry[data-outcome="ended"]').waitFor();
      for (const u of [alice, bob]) {
        assert.equal(await u.page.locator(".call-entry").count(), 1, `${u.name}: one entry`);
      }
      assert.deepEqual(alice.errors, []);
      assert.deepEqual(bob.errors, []);
    } finally {
      await alice.close();
      await bob.close();
      await b.close();
      await a.close({ removeData: true });
    }
  },
  { args: FAKE_MEDIA_ARGS },
);
