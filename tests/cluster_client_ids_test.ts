/**
 * A broadcast is stored nowhere, so only the nodes' memory of recent client ids keeps a resend
 * from going out twice: a resend after a reconnect to another node (worker) must find it there.
 */
import assert from "node:assert/strict";
import { InProcessBusHub } from "../lib/bus/mod.ts";
import { received, signIn, startTwoNodes } from "./cluster_scenarios.ts";
import { sleep } from "./helpers.ts";

Deno.test("a broadcast resent under its client id on another node goes out once", async () => {
  const hub = new InProcessBusHub();
  const nodes = await startTwoNodes({
    join: (node?: string) => Promise.resolve(hub.join(node)),
    close: () => Promise.resolve(),
  });
  try {
    const onA = await signIn(nodes.a, "alice", "laptop");
    const reader = await signIn(nodes.b, "bob", "phone");
    await onA.send({ type: "send", to: "all", text: "hello all", cid: "c-1" });
    const first = await onA.next("sent", (f) => f.cid === "c-1");
    await reader.next("message", (f) => f.text === "hello all");
    // Alice's connection drops before she saw `sent`, as far as her client knows; she comes
    // back on the other node and sends again under the same client id.
    await sleep(20); // the bus's turn
    const onB = await signIn(nodes.b, "alice", "laptop", true);
    await onB.send({ type: "send", to: "all", text: "hello all", cid: "c-1" });
    const again = await onB.next("sent", (f) => f.cid === "c-1");
    assert.equal(again.duplicate, true);
    assert.equal(again.id, first.id);
    // A marker after it: had the resend gone out, Bob would have it before the marker.
    await onB.send({ type: "send", to: "all", text: "marker", cid: "c-2" });
    await reader.next("message", (f) => f.text === "marker");
    assert.equal(received(reader, "message", (f) => f.text === "hello all").length, 1);
    for (const p of [onA, onB, reader]) await p.close();
  } finally {
    await nodes.close();
  }
});
