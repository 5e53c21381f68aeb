import assert from "node:assert/strict";
import { startServer } from "./helpers.ts";

Deno.test("two JSON clients exchange a private message", async () => {
  const server = await startServer();
  try {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    const sent = await alice.send("bob", "hi bob");
    assert.equal(sent.status, "delivered");
    const m = await bob.nextOf("message");
    assert.equal(m.text, "hi bob");
    assert.equal(m.from, "alice");
  } finally {
    await server.close();
  }
});
