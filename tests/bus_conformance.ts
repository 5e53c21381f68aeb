/**
 * The behaviour every Bus must have (lib/bus/bus.ts). Each implementation's test file calls
 * `runBusConformance` with a factory; the suite knows nothing of the transport.
 */
import assert from "node:assert/strict";
import type { Bus, BusMessage } from "../lib/bus/mod.ts";

/** Several nodes sharing one bus, as an implementation's test builds them. */
export interface BusCluster {
  /** A new node's end of the shared bus, resolved once it receives what others publish. */
  join(node?: string): Promise<Bus>;
  /** Closes what `join` opened and anything the cluster started. */
  close(): Promise<void>;
}

export interface BusFactory {
  name: string;
  /** A fresh cluster, isolated from any other (its messages reach no other cluster). */
  make(): Promise<BusCluster>;
  /** Deno test sanitizers to turn off (a client library with its own timers). */
  sanitize?: { ops?: boolean; resources?: boolean };
  /** Why the suite cannot run here (a missing service); undefined runs it. */
  skip?: string;
}

/** What one node received, in order. */
class Inbox {
  readonly got: { message: BusMessage; from: string }[] = [];
  constructor(bus: Bus) {
    bus.subscribe((message, from) => this.got.push({ message, from }));
  }
  kinds(): string[] {
    return this.got.map((g) => g.message.kind);
  }
  async until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.kinds())}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  /** Waits for a message of `kind`. */
  async waitFor(kind: string): Promise<{ message: BusMessage; from: string }> {
    await this.until(() => this.kinds().includes(kind), kind);
    return this.got.find((g) => g.message.kind === kind)!;
  }
}

/** Registers the conformance tests for one implementation. */
export function runBusConformance(factory: BusFactory): void {
  const test = (name: string, fn: (cluster: BusCluster) => Promise<void>) =>
    Deno.test({
      name: `bus conformance (${factory.name}): ${name}`,
      ignore: factory.skip !== undefined,
      sanitizeOps: factory.sanitize?.ops ?? true,
      sanitizeResources: factory.sanitize?.resources ?? true,
      fn: async () => {
        const cluster = await factory.make();
        try {
          await fn(cluster);
        } finally {
          await cluster.close();
        }
      },
    });
  if (factory.skip !== undefined) console.warn(`bus ${factory.name}: skipped: ${factory.skip}`);

  test("a message reaches every other node, never its publisher", async (cluster) => {
    const [a, b, c] = [await cluster.join("a"), await cluster.join("b"), await cluster.join("c")];
    assert.deepEqual([a.node, b.node, c.node], ["a", "b", "c"]);
    const [inA, inB, inC] = [new Inbox(a), new Inbox(b), new Inbox(c)];
    a.publish({ kind: "hello", n: 1 });
    const atB = await inB.waitFor("hello");
    const atC = await inC.waitFor("hello");
    assert.deepEqual(atB, { message: { kind: "hello", n: 1 }, from: "a" });
    assert.deepEqual(atC, { message: { kind: "hello", n: 1 }, from: "a" });
    // B's marker is published after A's message arrived anywhere: were A's own copy coming, it
    // would come first.
    b.publish({ kind: "marker" });
    await inA.waitFor("marker");
    assert.deepEqual(inA.kinds(), ["marker"]);
    await inC.waitFor("marker");
    assert.deepEqual(inB.kinds(), ["hello"]);
  });

  test("one publisher's messages arrive in the order published", async (cluster) => {
    const [a, b] = [await cluster.join("a"), await cluster.join("b")];
    const inB = new Inbox(b);
    for (let i = 0; i < 300; i++) a.publish({ kind: "seq", i });
    await inB.until(() => inB.got.length === 300, "300 messages");
    assert.deepEqual(inB.got.map((g) => g.message.i), [...Array(300).keys()]);
  });

  test("the JSON of a message arrives as it was, up to a large one", async (cluster) => {
    const [a, b] = [await cluster.join("a"), await cluster.join("b")];
    const inB = new Inbox(b);
    const rich: BusMessage = {
      kind: "rich",
      text: 'héllo 👋 "quoted" \n new line \u0000 nul',
      numbers: [0, -1, 1.5, Number.MAX_SAFE_INTEGER],
      flags: { yes: true, no: false, none: null },
      nested: { users: [{ key: "bob", lang: "fr" }] },
    };
    const large: BusMessage = { kind: "large", text: "x".repeat(200_000) };
    a.publish(rich);
    a.publish(large);
    await inB.until(() => inB.got.length === 2, "two messages");
    assert.deepEqual(inB.got[0].message, rich);
    assert.deepEqual(inB.got[1].message, large);
  });

  test("publish never calls a handler inside it, and never throws", async (cluster) => {
    const [a, b] = [await cluster.join("a"), await cluster.join("b")];
    let inside = false;
    let calledInside = false;
    b.subscribe(() => {
      if (inside) calledInside = true;
    });
    const inB = new Inbox(b);
    inside = true;
    a.publish({ kind: "now" });
    inside = false;
    await inB.waitFor("now");
    assert.equal(calledInside, false);
  });

  test("unsubscribing stops one handler; the others go on", async (cluster) => {
    const [a, b] = [await cluster.join("a"), await cluster.join("b")];
    const first: string[] = [];
    const off = b.subscribe((m) => first.push(m.kind));
    const inB = new Inbox(b);
    a.publish({ kind: "one" });
    await inB.waitFor("one");
    off();
    a.publish({ kind: "two" });
    await inB.waitFor("two");
    assert.deepEqual(first, ["one"]);
  });

  test("a handler that throws does not stop the others", async (cluster) => {
    const [a, b] = [await cluster.join("a"), await cluster.join("b")];
    const errors: unknown[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      b.subscribe(() => {
        throw new Error("a broken handler");
      });
      const inB = new Inbox(b);
      a.publish({ kind: "one" });
      a.publish({ kind: "two" });
      await inB.until(() => inB.got.length === 2, "both messages");
    } finally {
      console.error = consoleError;
    }
  });

  test("a node that joins later hears what is published after", async (cluster) => {
    const a = await cluster.join("a");
    const b = await cluster.join("b");
    const inB = new Inbox(b);
    a.publish({ kind: "early" });
    await inB.waitFor("early");
    const c = await cluster.join("c");
    const inC = new Inbox(c);
    a.publish({ kind: "late" });
    await inC.waitFor("late");
    await inB.waitFor("late");
    assert.deepEqual(inC.kinds(), ["late"]);
  });

  test("status says connected; close is idempotent and ends both ways", async (cluster) => {
    const [a, b, c] = [await cluster.join("a"), await cluster.join("b"), await cluster.join("c")];
    const s = a.status();
    assert.equal(s.connected, true);
    assert.equal(typeof s.since, "number");
    assert.ok(s.since <= Date.now());
    const inA = new Inbox(a);
    const inC = new Inbox(c);
    await b.close();
    await b.close();
    assert.equal(b.status().connected, false);
    b.publish({ kind: "after-close" }); // a no-op, not an error
    a.publish({ kind: "to-the-living" });
    c.publish({ kind: "marker" });
    await inC.waitFor("to-the-living");
    await inA.waitFor("marker");
    assert.deepEqual(inA.kinds(), ["marker"]);
  });
}
