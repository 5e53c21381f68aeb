/**
 * `SharedAdmission` (lib/router/shared_admission.ts) on an in-process bus: what another node
 * says of its connections counts here, a summary replaces it, a goodbye drops it, and a
 * malformed message changes nothing. The two-node scenarios through real servers are in
 * cluster_scenarios.ts.
 */
import assert from "node:assert/strict";
import { type Bus, InProcessBusHub } from "../lib/bus/mod.ts";
import { isRefusal } from "../lib/router/admission.ts";
import { SharedAdmission } from "../lib/router/shared_admission.ts";

/** Lets the bus deliver what was published (the in-process hub delivers on a microtask). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

const LIMITS = { maxConnections: 100, maxConnectionsPerIp: 3, newConnectionsPerMinute: 100 };
const ADDRESS = "192.0.2.7";

/** A node's admission and, to speak as another node, a raw end of the same bus. */
async function withNode(fn: (admission: SharedAdmission, other: Bus) => Promise<void>) {
  const hub = new InProcessBusHub();
  const [here, other] = [hub.join("here"), hub.join("other")];
  const admission = new SharedAdmission(here, LIMITS, { summaryMs: 60_000 });
  try {
    await fn(admission, other);
  } finally {
    admission.close();
    await here.close();
    await other.close();
  }
}

Deno.test("shared admission: another node's summary replaces its counts; its goodbye drops them", () =>
  withNode(async (admission, other) => {
    other.publish({ kind: "admitted", address: ADDRESS });
    other.publish({ kind: "admitted", address: ADDRESS });
    await settle();
    assert.equal(admission.openFrom(ADDRESS), 2);
    // A release lost while the bus was down is repaired by the next summary.
    other.publish({
      kind: "admission-counts",
      round: 1,
      part: 0,
      parts: 1,
      ttlMs: 60_000,
      open: [[ADDRESS, 1], ["198.51.100.1", 4]],
    });
    await settle();
    assert.equal(admission.openFrom(ADDRESS), 1);
    assert.equal(admission.openFrom("198.51.100.1"), 4);
    const ticket = admission.admit(ADDRESS);
    assert.ok(!isRefusal(ticket));
    assert.equal(admission.openFrom(ADDRESS), 2);
    other.publish({ kind: "bye" });
    await settle();
    assert.equal(admission.openFrom(ADDRESS), 1, "only this node's own");
    assert.equal(admission.openFrom("198.51.100.1"), 0);
    assert.equal(admission.nodeCount, 0);
    ticket.release();
    assert.equal(admission.openFrom(ADDRESS), 0);
  }));

Deno.test("shared admission: malformed messages from another node change nothing", () =>
  withNode(async (admission, other) => {
    other.publish({ kind: "admitted", address: ADDRESS });
    await settle();
    for (
      const bad of [
        { kind: "admitted" },
        { kind: "admitted", address: 7 },
        { kind: "admitted", address: "" },
        { kind: "admitted", address: "x".repeat(500) },
        { kind: "released", address: ["192.0.2.7"] },
        { kind: "admission-counts", round: 1, part: 0, parts: 1, ttlMs: 1000, open: "nope" },
        { kind: "admission-counts", round: 1, part: 0, parts: 1, ttlMs: 1000, open: [[ADDRESS]] },
        {
          kind: "admission-counts",
          round: 1,
          part: 0,
          parts: 1,
          ttlMs: 1000,
          open: [[ADDRESS, -5]],
        },
        {
          kind: "admission-counts",
          round: 1,
          part: 0,
          parts: 1,
          ttlMs: 1000,
          open: [[ADDRESS, 1.5]],
        },
        { kind: "admission-counts", round: 1, part: 2, parts: 1, ttlMs: 1000, open: [] },
        { kind: "admission-counts", round: "1", part: 0, parts: 1, ttlMs: 1000, open: [] },
        { kind: "admission-counts", round: 1, part: 0, parts: 1, open: [] },
      ]
    ) {
      other.publish(bad);
    }
    await settle();
    assert.equal(admission.openFrom(ADDRESS), 1);
    // The limit still counts the one good report: two more here, then refused.
    assert.ok(!isRefusal(admission.admit(ADDRESS)));
    assert.ok(!isRefusal(admission.admit(ADDRESS)));
    const refused = admission.admit(ADDRESS);
    assert.ok(isRefusal(refused));
    assert.equal(refused.code, "too_many_connections");
  }));

Deno.test("shared admission: a summary in parts replaces the counts only once complete", () =>
  withNode(async (admission, other) => {
    const part = (n: number, open: [string, number][]) =>
      other.publish({ kind: "admission-counts", round: 5, part: n, parts: 2, ttlMs: 60_000, open });
    part(0, [[ADDRESS, 2]]);
    await settle();
    assert.equal(admission.openFrom(ADDRESS), 0, "not before the last part");
    part(1, [["198.51.100.1", 1]]);
    await settle();
    assert.equal(admission.openFrom(ADDRESS), 2);
    assert.equal(admission.openFrom("198.51.100.1"), 1);
  }));
