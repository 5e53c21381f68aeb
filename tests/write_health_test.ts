/** The store's write tracking: one full-disk episode, one pair of log lines. */
import assert from "node:assert/strict";
import { ParleyError } from "../lib/errors.ts";
import { createLogger } from "../lib/log.ts";
import type { Store } from "../lib/store/store.ts";
import { StoreWriteHealth } from "../lib/store/write_health.ts";

/** A store whose disk is full while `full` is set; an ack of nothing commits nothing. */
function fakeStore(disk: { full: boolean }): Store {
  const write = (changes: boolean) =>
    disk.full && changes
      ? Promise.reject(new ParleyError("storage_full"))
      : Promise.resolve(changes ? 1 : 0);
  return {
    storeOffline: () => write(true).then(() => undefined),
    ack: (_key: string, ids: string[]) => write(ids.length > 0),
    check: () => write(true).then(() => {}),
    getUser: () => Promise.resolve(undefined),
  } as unknown as Store;
}

const message = { id: "m", from: "a", to: "b", toKey: "b", text: "hi", ts: 1 };
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("StoreWriteHealth logs a full disk once, and its end once, whatever happens between", async () => {
  const lines: string[] = [];
  const health = new StoreWriteHealth(createLogger("debug", (line) => lines.push(line)));
  const disk = { full: false };
  const store = health.wrap(fakeStore(disk));
  await store.storeOffline(message);
  assert.deepEqual(health.state, { writable: true });

  disk.full = true;
  for (let i = 0; i < 5; i++) {
    await assert.rejects(store.storeOffline(message), (e) => e instanceof ParleyError);
  }
  // Succeeds, but commits nothing: it says nothing about the disk, so it ends nothing.
  assert.equal(await store.ack("b", []), 0);
  await settle();
  await assert.rejects(store.check());
  await settle();
  const state = health.state;
  assert.equal(state.writable, false);
  assert.equal(state.refused, 7, "five sends, the probe the ack started, the check");
  assert.equal(typeof state.since, "number");
  assert.equal(health.refusedTotal, 7);
  // Reads are not writes: they neither end nor extend the episode.
  assert.equal(await store.getUser("b"), undefined);

  disk.full = false;
  await store.storeOffline(message);
  await settle();
  assert.deepEqual(health.state, { writable: true });
  assert.equal(health.refusedTotal, 7);

  assert.equal(lines.filter((l) => l.includes("the store cannot write")).length, 1, lines.join());
  assert.equal(lines.filter((l) => l.includes("the store writes again")).length, 1, lines.join());
  assert.match(lines.find((l) => l.includes("writes again"))!, /refused=7/);
});

Deno.test("StoreWriteHealth counts a refusal from every method that writes", async () => {
  const health = new StoreWriteHealth(createLogger("silent"));
  const full = () => Promise.reject(new ParleyError("storage_full"));
  // Every write of the Store interface, with the password rehash and the message log's.
  const writes = [
    "createUser",
    "setLang",
    "setPasswordHash",
    "storeOffline",
    "createWebLogin",
    "deleteWebLogin",
    "putTranslations",
    "appendMessage",
    "openDevice",
    "ackDevice",
    "forgetDevice",
    "markRead",
    "pruneHistory",
    "createRoom",
    "joinRoom",
    "leaveRoom",
    "setTopic",
    "invite",
    "setRole",
  ];
  const fake = Object.fromEntries(writes.map((name) => [name, full]));
  const store = health.wrap({ ...fake, check: full } as unknown as Store) as unknown as Record<
    string,
    () => Promise<unknown>
  >;
  for (const name of writes) await assert.rejects(store[name](), ParleyError, name);
  await settle();
  // Each write once; no probe runs while refusals go on (nothing succeeded).
  assert.equal(health.refusedTotal, writes.length);
});
