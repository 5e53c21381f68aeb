import assert from "node:assert/strict";
import { InProcessBusHub } from "../lib/bus/mod.ts";
import { SharedThrottle } from "../lib/accounts/shared_throttle.ts";
import { NAME_FREE_FAILURES, SIGN_IN_THROTTLE } from "../lib/accounts/throttle.ts";

/** Lets the bus deliver what was published (the in-process hub delivers on a microtask). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("failed sign-ins spread over two nodes lock the name on both, as on one node", async () => {
  const hub = new InProcessBusHub();
  const [busA, busB] = [hub.join("a"), hub.join("b")];
  const a = new SharedThrottle(busA, SIGN_IN_THROTTLE);
  const b = new SharedThrottle(busB, SIGN_IN_THROTTLE);
  const keys = ["name:alice", "addr:192.0.2.1"];
  try {
    // The free failures, taken turn about on each node.
    for (let i = 0; i < NAME_FREE_FAILURES; i++) {
      const node = i % 2 === 0 ? a : b;
      assert.equal(node.reserve(keys), 0, `attempt ${i + 1} goes ahead`);
      node.release(keys, true);
      await settle();
    }
    // One more failure anywhere starts the lockout everywhere.
    assert.equal(a.reserve(keys), 0);
    a.release(keys, true);
    await settle();
    assert.ok(a.waitMs(keys) > 0, "locked where it failed");
    assert.ok(b.waitMs(keys) > 0, "locked on the other node too");
    // A success clears the name on both.
    b.succeed("name:alice");
    await settle();
    assert.equal(a.waitMs(["name:alice"]), 0);
  } finally {
    await busA.close();
    await busB.close();
  }
});
