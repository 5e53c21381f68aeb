/**
 * Retention (`--history-days`): a real server process prunes history older than the setting at
 * start; 0 keeps everything. Real process, real SQLite file.
 */
import assert from "node:assert/strict";
import { privateConv } from "../lib/store/conv.ts";
import { PASSWORD, SecureSocket, startServer, TextSocket, until } from "./helpers.ts";
import { spawnServer } from "./process_helpers.ts";
import { Peer } from "./sync_helpers.ts";

const DAY = 24 * 60 * 60 * 1000;

/** A data directory with alice and bob and three messages: 40 and 10 days old, and new. */
async function seeded(): Promise<string> {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-retention-" });
  const server = await startServer({ dataDir });
  for (const name of ["alice", "bob"]) (await server.user(name)).close();
  const conv = privateConv("alice", "bob");
  for (const [id, age] of [["old", 40], ["recent", 10], ["new", 0]] as const) {
    await server.store.appendMessage({
      id,
      conv,
      senderKey: "alice",
      from: "alice",
      to: "bob",
      text: `${id} message`,
      ts: Date.now() - age * DAY,
      lang: "en",
    });
  }
  await server.close({ removeData: false });
  return dataDir;
}

/** The texts of bob's history with alice, as a server process on `dataDir` serves it. */
async function historyUnder(
  dataDir: string,
  args: string[],
  prunes = false,
): Promise<string[]> {
  const server = await spawnServer(dataDir, args);
  try {
    // The prune at start runs beside the listeners: wait for its log line when it has work.
    if (prunes) await until(() => server.output().includes("pruned old messages"), 10_000, "prune");
    const sock = await SecureSocket.over(
      await TextSocket.connect(server.tcpPort),
      server.fingerprint,
    );
    const bob = new Peer(sock);
    await bob.send({ type: "login", name: "bob", password: PASSWORD });
    await bob.next("welcome");
    await bob.send({ type: "history", with: "@alice" });
    const page = await bob.next("history");
    await bob.close();
    return (page.messages as { text: string }[]).map((m) => m.text);
  } finally {
    await server.stop("SIGTERM");
  }
}

Deno.test("--history-days prunes older messages at start; 0 keeps them all", async () => {
  const dataDir = await seeded();
  try {
    assert.deepEqual(
      await historyUnder(dataDir, ["--history-days", "0"]),
      ["old message", "recent message", "new message"],
    );
    assert.deepEqual(
      await historyUnder(dataDir, ["--history-days", "30"], true),
      ["recent message", "new message"],
    );
    assert.deepEqual(await historyUnder(dataDir, ["--history-days", "5"], true), ["new message"]);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
