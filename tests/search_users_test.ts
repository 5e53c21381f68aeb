/**
 * search_users: how a client finds anyone by name on a server with more accounts than a list
 * can show. Real server, real SQLite file.
 */
import assert from "node:assert/strict";
import { ServerError } from "../lib/client/client.ts";
import { PASSWORD, withServer } from "./helpers.ts";

Deno.test("search_users finds accounts by the start of their name, paged, with presence", () =>
  withServer(async (server) => {
    // 45 accounts starting with "user", two others; "user07" stays online.
    for (let i = 0; i < 45; i++) {
      const name = `user${String(i).padStart(2, "0")}`;
      const c = await server.user(name);
      if (i !== 7) await c.quit();
    }
    await (await server.user("Ursula", { lang: "es" })).quit();
    const alice = await server.user("alice");

    // Case-insensitive prefix, by key; presence and language of each.
    const u = await alice.searchUsers("US", undefined, 3);
    assert.deepEqual(u.users, [
      { name: "user00", state: "offline", lang: "en" },
      { name: "user01", state: "offline", lang: "en" },
      { name: "user02", state: "offline", lang: "en" },
    ]);
    assert.equal(u.query, "US");
    assert.equal(u.next, "user02");
    const seven = await alice.searchUsers("@USER07");
    assert.deepEqual(seven.users, [{ name: "user07", state: "online", lang: "en" }]);
    assert.equal(seven.next, undefined);
    assert.deepEqual((await alice.searchUsers("urs")).users.map((x) => x.lang), ["es"]);

    // Following `next` pages through every match once, 20 at a time by default.
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await alice.searchUsers("user", cursor);
      assert.ok(page.users.length <= 20);
      seen.push(...page.users.map((x) => x.name));
      cursor = page.next;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(
      seen,
      Array.from({ length: 45 }, (_, i) => `user${String(i).padStart(2, "0")}`),
    );

    // Nothing found is an empty page; "" lists everyone.
    assert.deepEqual((await alice.searchUsers("zz")).users, []);
    assert.equal((await alice.searchUsers("", undefined, 50)).users.length, 47);

    // Bad paging asks get a clear error, and the connection carries on.
    for (const limit of [0, 51, 2.5]) {
      await assert.rejects(
        alice.searchUsers("u", undefined, limit),
        (err) =>
          err instanceof ServerError && err.code === "bad_argument" && /limit/.test(err.message),
      );
    }
    await assert.rejects(
      alice.request({ type: "search_users", query: 42 }, "users"),
      (err) => err instanceof ServerError && err.code === "bad_argument",
    );
    await alice.ping();
  }));

Deno.test("search_users needs a sign-in", () =>
  withServer(async (server) => {
    const raw = await server.secure();
    await raw.write(JSON.stringify({ type: "search_users", query: "a", cid: "s1" }));
    const reply = JSON.parse(await raw.waitFor(/"cid":"s1"/));
    assert.equal(reply.type, "error");
    assert.equal(reply.code, "not_logged_in");
  }));

Deno.test("text mode: /find lists names by their start", () =>
  withServer(async (server) => {
    await (await server.user("bobby")).quit();
    await server.user("bob");
    const alice = await server.text();
    await alice.waitFor("Name:");
    await alice.write(`/register alice ${PASSWORD.replace(" ", "-")}`);
    await alice.waitFor("Welcome, alice!");
    await alice.write("/find BO");
    await alice.waitFor("* Names starting with 'BO': bob (online), bobby (offline)");
    await alice.write("/find al");
    await alice.waitFor("* Names starting with 'al': alice (you)");
    await alice.write("/find x");
    await alice.waitFor("* Nobody's name starts with 'x'.");
    await alice.write("/find");
    await alice.waitFor("! Usage: /find <letters>, e.g. /find bo");
  }));
