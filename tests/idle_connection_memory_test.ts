/**
 * What an idle, signed-in JSON connection over TCP keeps (docs/performance.md §15), read from a
 * real heap snapshot of a server in this process: every object the server keeps per quiet
 * connection is memory multiplied by the connections it holds, so what may be shared is
 * shared and what is empty is not kept.
 */
import assert from "node:assert/strict";
import { writeHeapSnapshot } from "node:v8";
import { sleep, withServer } from "./helpers.ts";

/** A heap snapshot, as far as these checks read it: objects by class, and their fields. */
class HeapGraph {
  #types: string[];
  #strings: string[];
  #nodes: number[];
  #edges: number[];
  #nodeFields: number;
  #firstEdge: number[] = [];
  #edgeTypes: string[];
  #retainers: Map<number, number[]> | undefined;

  constructor(json: string) {
    const s = JSON.parse(json);
    const meta = s.snapshot.meta;
    this.#types = meta.node_types[0];
    this.#edgeTypes = meta.edge_types[0];
    this.#strings = s.strings;
    this.#nodes = s.nodes;
    this.#edges = s.edges;
    this.#nodeFields = meta.node_fields.length;
    let e = 0;
    for (let i = 0; i < this.#nodes.length; i += this.#nodeFields) {
      this.#firstEdge.push(e);
      e += this.#nodes[i + 4] * 3; // edge_count; an edge is (type, name, to_node)
    }
  }

  /** Node offsets of the objects of class `name`. */
  objects(name: string): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.#nodes.length; i += this.#nodeFields) {
      if (this.#types[this.#nodes[i]] === "object" && this.#strings[this.#nodes[i + 1]] === name) {
        out.push(i);
      }
    }
    return out;
  }

  /** The node a property (or private field) `field` of node `node` points to, if any. */
  field(node: number, field: string): number | undefined {
    const first = this.#firstEdge[node / this.#nodeFields];
    for (let e = first; e < first + this.#nodes[node + 4] * 3; e += 3) {
      const type = this.#edgeTypes[this.#edges[e]];
      if (type !== "property" && type !== "internal") continue;
      if (this.#strings[this.#edges[e + 1]] === field) return this.#edges[e + 2];
    }
    return undefined;
  }

  /** Class name (objects) or kind of a node. */
  name(node: number): string {
    const type = this.#types[this.#nodes[node]];
    return type === "object" ? this.#strings[this.#nodes[node + 1]] : type;
  }

  /** The nodes `node` has an edge to, by property or internal field. */
  refs(node: number): number[] {
    const first = this.#firstEdge[node / this.#nodeFields];
    const out: number[] = [];
    for (let e = first; e < first + this.#nodes[node + 4] * 3; e += 3) {
      const type = this.#edgeTypes[this.#edges[e]];
      if (type === "property" || type === "internal") out.push(this.#edges[e + 2]);
    }
    return out;
  }

  /** The nodes with an edge to `node` (weak edges aside). */
  retainers(node: number): number[] {
    if (!this.#retainers) {
      this.#retainers = new Map();
      for (let n = 0; n < this.#nodes.length; n += this.#nodeFields) {
        const first = this.#firstEdge[n / this.#nodeFields];
        for (let e = first; e < first + this.#nodes[n + 4] * 3; e += 3) {
          if (this.#edgeTypes[this.#edges[e]] === "weak") continue;
          const to = this.#edges[e + 2];
          const list = this.#retainers.get(to);
          if (list) list.push(n);
          else this.#retainers.set(to, [n]);
        }
      }
    }
    return this.#retainers.get(node) ?? [];
  }

  /** The string a node holds (string nodes). */
  text(node: number): string {
    return this.#strings[this.#nodes[node + 1]];
  }
}

/** The server-side secure sessions (clients in this process have theirs too). */
function serverSessions(heap: HeapGraph): number[] {
  return heap.objects("SecureSession").filter((s) => {
    const role = heap.field(s, "role");
    return role !== undefined && heap.text(role) === "server";
  });
}

/** A heap snapshot of this process (the server and its test clients), read; its file removed. */
async function heapOfThisProcess(): Promise<HeapGraph> {
  const file = await Deno.makeTempFile({ suffix: ".heapsnapshot" });
  try {
    writeHeapSnapshot(file);
    return new HeapGraph(await Deno.readTextFile(file));
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("an idle signed-in JSON connection keeps nothing per connection that can be shared or left out", async () => {
  await withServer(async (server) => {
    const clients = [];
    for (let i = 0; i < 12; i++) clients.push(await server.user(`idle${i}`));
    // Past the welcome, the presence rounds and any heartbeat: quiet.
    await sleep(1500);
    try {
      const heap = await heapOfThisProcess();

      const sessions = serverSessions(heap);
      assert.ok(sessions.length >= 12, `server sessions found: ${sessions.length}`);
      // A quiet session's seal and open chains are the one settled promise every session shares.
      const chains = new Set(
        sessions.flatMap((s) => [heap.field(s, "#sendChain"), heap.field(s, "#recvChain")]),
      );
      assert.equal(chains.size, 1, "every quiet session shares one settled chain");
      // Both raw keys of a session are one flat string: no views, buffers or backing stores.
      for (const s of sessions) {
        const keys = heap.field(s, "#keys");
        assert.ok(keys !== undefined && heap.name(keys) === "RestingKeys", "a session's keys");
        const raw = heap.field(keys, "#raw");
        assert.ok(raw !== undefined, "a server session keeps its raw keys");
        assert.equal(heap.name(raw), "string", "both raw keys in one flat string");
        assert.equal(heap.text(raw).length, 64);
      }

      // Nothing waiting means no array kept for it.
      const empty: [string, string][] = [
        ["TcpConnection", "#queue"],
        ["Link", "#inbox"],
        ["FrameSealer", "#batch"],
      ];
      for (const [cls, field] of empty) {
        const objects = heap.objects(cls);
        assert.ok(objects.length >= 12, `${cls} found: ${objects.length}`);
        for (const o of objects) {
          const target = heap.field(o, field);
          assert.ok(
            target === undefined || heap.name(target) !== "Array",
            `a quiet ${cls} keeps an array in ${field}`,
          );
        }
      }
      for (const c of heap.objects("TcpConnection")) {
        const splitter = heap.field(c, "#splitter")!;
        const parts = heap.field(splitter, "#parts");
        assert.ok(
          parts === undefined || heap.name(parts) !== "Array",
          "a quiet splitter keeps no array",
        );
      }

      // A quiet connection's reading is its pending read and callbacks, not a suspended async
      // frame (a generator object, its registers and context) of the server's own.
      for (const c of heap.objects("TcpConnection")) {
        const frames = heap.retainers(c).filter((r) =>
          heap.name(r) === "Generator" ||
          heap.retainers(r).some((rr) => heap.name(rr) === "Generator")
        );
        assert.equal(frames.length, 0, "a quiet TcpConnection is held by a suspended frame");
      }

      // Every connection's rate limit reads the one shared clock.
      const clocks = new Set(heap.objects("TokenBucket").map((b) => heap.field(b, "#now")));
      assert.equal(clocks.size, 1, "one clock for every token bucket");
    } finally {
      for (const c of clients) c.close();
    }
  });
});

Deno.test("a rested connection keeps no token bucket, and its rate limit holds after the rest", async () => {
  const rate = 5;
  const burst = 10;
  await withServer(async (server) => {
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push(await server.user(`rest${i}`));
    // Signing in took 5 tokens, back within a second. Then a few watch ticks (one a second)
    // past `restAfterMs`, with no heartbeat (`slowReaderMs`) to wake them: every one rests.
    await sleep(3500);
    const heap = await heapOfThisProcess();
    const sessions = heap.objects("ClientSession");
    assert.ok(sessions.length >= 4, `sessions found: ${sessions.length}`);
    for (const s of sessions) {
      const buckets = heap.refs(s).filter((r) => heap.name(r) === "TokenBucket");
      assert.equal(buckets.length, 0, "a rested session keeps a full bucket");
    }
    // The bucket made anew is full, and no fuller: the burst, then rate_limited.
    const alice = clients[0];
    const replies: string[] = [];
    const all = Promise.withResolvers<void>();
    alice.on((e) => {
      if (e.type === "sent") replies.push("sent");
      if (e.type === "error") replies.push(e.code);
      if (replies.length === burst + 2) all.resolve();
    });
    const started = performance.now();
    for (let i = 0; i < burst + 2; i++) {
      alice.sendFrame({ type: "send", to: "rest1", text: `m${i}` });
    }
    await all.promise;
    const elapsed = (performance.now() - started) / 1000;
    const sent = replies.filter((r) => r === "sent").length;
    assert.deepEqual(replies.slice(0, burst), Array(burst).fill("sent"), "the burst is honoured");
    assert.ok(sent <= burst + Math.floor(elapsed * rate), `${sent} sent in ${elapsed} s`);
    assert.ok(replies.slice(sent).every((r) => r === "rate_limited"), replies.join());
    for (const c of clients) c.close();
  }, { limits: { restAfterMs: 200, slowReaderMs: 60_000, ratePerSec: rate, rateBurst: burst } });
});
