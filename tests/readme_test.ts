/** The README's nc session, replayed line by line against a real server: it must stay true. */
import assert from "node:assert/strict";
import { withServer } from "./helpers.ts";

/** The lines of the README's first `$ nc` block, after the command itself. */
async function readmeNcSession(): Promise<string[]> {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const block = readme.match(/```\n\$ nc 127\.0\.0\.1 7000\n([\s\S]*?)```/);
  assert.ok(block, "the README has an nc session");
  return block[1].replace(/\n$/, "").split("\n");
}

// What alice types in that session; every other line is what the server sends her.
const TYPED = new Set([
  "alice",
  "correct-horse",
  "",
  "@bob hi bob",
  "@all hello everyone",
  "@carol see you later",
  "@dave are you there?",
  "/who",
  "/quit",
]);

Deno.test("README: the nc session is what a server really says", () =>
  withServer(async (server) => {
    // As the README sets it up: carol has an account and is offline, bob is online.
    const carol = await server.user("carol");
    await carol.quit();
    const bob = await server.user("bob");
    const alice = await server.text();
    for (const line of await readmeNcSession()) {
      if (TYPED.has(line)) {
        await alice.write(line);
        continue;
      }
      if (line.includes("bob -> you")) await bob.send("alice", "hi alice");
      if (line === "* bob is offline") await bob.quit();
      const got = await alice.nextLine();
      // The time is the server's clock.
      const expected = line.replace(/^\[\d\d:\d\d\]/, "[HH:MM]");
      assert.equal(got?.replace(/^\[\d\d:\d\d\]/, "[HH:MM]"), expected);
    }
  }));
