import assert from "node:assert/strict";
import { connectTcp, type ParleyClient, ServerError } from "../lib/client/mod.ts";
import { PASSWORD, withServer } from "./helpers.ts";
import { spawnServer } from "./process_helpers.ts";
import { textUser } from "./raw.ts";

/** Runs `request` and returns the error code it was refused with. */
async function refused(request: Promise<unknown>): Promise<string> {
  const err = await request.then(() => undefined, (e) => e);
  assert.ok(err instanceof ServerError, `expected a refusal, got ${err}`);
  return err.code;
}

const join = (c: ParleyClient, room: string, extra: Record<string, unknown> = {}) =>
  c.request({ type: "join", room, ...extra }, "joined");

Deno.test("join creates a room and makes its creator owner; others join and see each other", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");

    const made = await join(alice, "#Dev");
    assert.deepEqual({ ...made, cid: undefined }, {
      type: "joined",
      room: "#Dev",
      topic: "",
      visibility: "public",
      role: "owner",
      members: 1,
      created: true,
      cid: undefined,
    });

    // Names are case-insensitive and the # is optional; the room keeps the name it was made with.
    const joined = await join(bob, "dev");
    assert.equal(joined.room, "#Dev");
    assert.equal(joined.created, false);
    assert.equal(joined.role, "member");
    assert.equal(joined.members, 2);
    const seen = await alice.nextOf("room");
    assert.deepEqual([seen.room, seen.joined, seen.by], ["#Dev", "bob", "bob"]);

    // Joining again changes nothing and tells nobody.
    assert.equal((await join(bob, "DEV")).members, 2);

    // An explicit create of a taken name is refused.
    assert.equal(await refused(join(bob, "dev", { create: true })), "room_taken");

    const members = await alice.request({ type: "members", room: "dev" }, "members");
    assert.deepEqual(members.members, [
      { name: "alice", role: "owner", state: "online" },
      { name: "bob", role: "member", state: "online" },
    ]);

    const topic = await alice.request({ type: "topic", room: "dev", text: "shipping 1.0" }, "room");
    assert.equal(topic.topic, "shipping 1.0");
    assert.equal((await bob.nextOf("room", (e) => e.topic !== undefined)).by, "alice");

    const rooms = await bob.request({ type: "rooms" }, "rooms");
    assert.deepEqual(rooms.rooms, [{
      name: "#Dev",
      topic: "shipping 1.0",
      visibility: "public",
      members: 2,
      role: "member",
      unread: 0,
    }]);
    assert.equal(rooms.next, undefined);
  }));

Deno.test("invite-only rooms refuse outsiders and let the invited in", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    const carol = await server.user("carol");
    await join(alice, "ops", { visibility: "invite" });

    assert.equal(await refused(join(bob, "ops")), "not_invited");
    assert.equal(
      await refused(bob.request({ type: "members", room: "ops" }, "members")),
      "not_a_member",
    );
    assert.equal(
      await refused(bob.request({ type: "topic", room: "ops", text: "x" }, "room")),
      "not_a_member",
    );
    assert.deepEqual((await carol.request({ type: "rooms" }, "rooms")).rooms, []);

    const invited = await alice.request({ type: "invite", room: "ops", user: "@Bob" }, "invited");
    assert.deepEqual([invited.room, invited.user], ["#ops", "bob"]);
    const live = await bob.nextOf("invite");
    assert.deepEqual([live.room, live.by], ["#ops", "alice"]);
    const listed = await bob.request({ type: "rooms" }, "rooms");
    assert.deepEqual(listed.rooms.map((r) => [r.name, r.invited]), [["#ops", true]]);

    assert.equal((await join(bob, "ops")).role, "member");
    // Only the owner of an invite-only room invites, sets the topic, removes or hands over.
    assert.equal(
      await refused(bob.request({ type: "invite", room: "ops", user: "carol" }, "invited")),
      "not_owner",
    );
    assert.equal(
      await refused(bob.request({ type: "topic", room: "ops", text: "mine" }, "room")),
      "not_owner",
    );
    assert.equal(
      await refused(bob.request({ type: "kick", room: "ops", user: "alice" }, "room")),
      "not_owner",
    );
    assert.equal(
      await refused(alice.request({ type: "invite", room: "ops", user: "nobody" }, "invited")),
      "no_such_user",
    );

    // The owner can take an invitation back before it is used.
    await alice.request({ type: "invite", room: "ops", user: "carol" }, "invited");
    await carol.nextOf("invite");
    const withdrawn = await alice.request({ type: "kick", room: "ops", user: "carol" }, "invited");
    assert.deepEqual([withdrawn.user, withdrawn.withdrawn], ["carol", true]);
    const told2 = await carol.nextOf("invite");
    assert.deepEqual([told2.room, told2.by, told2.withdrawn], ["#ops", "alice", true]);
    assert.equal(await refused(join(carol, "ops")), "not_invited");

    // Removed, bob needs a new invitation to come back.
    const kicked = await alice.request({ type: "kick", room: "ops", user: "bob" }, "room");
    assert.deepEqual([kicked.left, kicked.by], ["bob", "alice"]);
    const told = await bob.nextOf("room", (e) => e.left !== undefined);
    assert.deepEqual([told.left, told.by], ["bob", "alice"]);
    assert.equal(await refused(join(bob, "ops")), "not_invited");
  }));

Deno.test("ownership is handed over, and passes to the eldest member when the owner leaves", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    const carol = await server.user("carol");
    await join(alice, "dev");
    await join(bob, "dev");
    await join(carol, "dev");

    assert.equal(
      await refused(alice.request({ type: "owner", room: "dev", user: "dave" }, "room")),
      "not_a_member",
    );
    const handed = await alice.request({ type: "owner", room: "dev", user: "carol" }, "room");
    assert.deepEqual([handed.owner, handed.by], ["carol", "alice"]);
    assert.equal((await bob.nextOf("room", (e) => e.owner !== undefined)).owner, "carol");
    assert.equal(
      await refused(alice.request({ type: "owner", room: "dev", user: "bob" }, "room")),
      "not_owner",
    );

    // carol leaves: the longest-standing member (alice) owns it now.
    const left = await carol.request({ type: "leave", room: "dev" }, "left");
    assert.equal(left.room, "#dev");
    const change = await bob.nextOf("room", (e) => e.left === "carol");
    assert.deepEqual([change.owner, change.by], ["alice", "carol"]);
    assert.equal(
      await refused(carol.request({ type: "leave", room: "dev" }, "left")),
      "not_a_member",
    );

    // The last one out leaves the room empty; it keeps its name and topic, and the next one in
    // owns it.
    await alice.request({ type: "topic", room: "dev", text: "kept" }, "room");
    await alice.request({ type: "leave", room: "dev" }, "left");
    await bob.request({ type: "leave", room: "dev" }, "left");
    const back = await join(carol, "dev");
    assert.deepEqual([back.created, back.role, back.members, back.topic], [
      false,
      "owner",
      1,
      "kept",
    ]);
  }));

Deno.test("bad room names and unknown rooms get clear errors", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    assert.equal(await refused(join(alice, "#no spaces")), "bad_name");
    assert.equal(await refused(join(alice, "-dash")), "bad_name");
    assert.equal(await refused(join(alice, "#all")), "bad_name");
    assert.equal(await refused(join(alice, "x".repeat(33))), "bad_name");
    assert.equal(await refused(join(alice, "dev", { visibility: "secret" })), "bad_argument");
    assert.equal(
      await refused(alice.request({ type: "leave", room: "nowhere" }, "left")),
      "no_such_room",
    );
    assert.equal(
      await refused(alice.request({ type: "members", room: "nowhere" }, "members")),
      "no_such_room",
    );
    await join(alice, "dev");
    assert.equal(
      await refused(alice.request({ type: "topic", room: "dev", text: "a\nb" }, "room")),
      "bad_argument",
    );
    assert.equal(
      await refused(alice.request({ type: "kick", room: "dev", user: "alice" }, "room")),
      "bad_argument",
    );
  }));

Deno.test("both devices of a member get room events; the joiner's other device learns of it", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const laptop = await server.user("bob");
    const phone = await server.user("bob", { login: true });
    await join(alice, "dev");

    await join(laptop, "dev");
    const other = await phone.nextOf("joined");
    assert.deepEqual([other.room, other.cid], ["#dev", undefined]);

    // Joining again answers the one who asked; the other device has nothing new to hear.
    await join(laptop, "dev");
    await alice.request({ type: "topic", room: "dev", text: "both see this" }, "room");
    for (const device of [laptop, phone]) {
      const e = await device.nextOf("room", (e) => e.topic !== undefined);
      assert.deepEqual([e.topic, e.by, e.cid], ["both see this", "alice", undefined]);
    }
    assert.ok(!phone.buffered.some((e) => e.type === "joined"), "one joined per device");

    await phone.request({ type: "leave", room: "dev" }, "left");
    assert.equal((await laptop.nextOf("left")).room, "#dev");
  }));

Deno.test("text mode: /join, /topic, /invite, /members, /rooms, /kick, /owner, /leave", () =>
  withServer(async (server) => {
    const carol = await textUser(server, "carol");
    const dave = await textUser(server, "dave");
    await carol.write("/join #dev invite");
    await carol.waitFor("* You created #dev (invite-only); you are its owner.");
    await dave.write("/create #DEV");
    await dave.waitFor("! There is a room named #dev already; /join #dev joins it.");
    await dave.write("/join #dev");
    await dave.waitFor("! #dev is invite-only; ask its owner for an invitation.");
    await carol.write("/invite @dave #dev");
    await carol.waitFor("* dave is invited to #dev.");
    await dave.waitFor("* carol invited you to #dev: /join #dev");
    await dave.write("/join dev");
    await dave.waitFor("* You are in #dev (invite-only, 2 members).");
    await carol.waitFor("* #dev: dave joined");
    await carol.write("/topic #dev release   day");
    await carol.waitFor("* #dev: you set the topic: release   day");
    await dave.waitFor("* #dev: carol set the topic: release   day");
    await dave.write("/members #dev");
    await dave.waitFor("* #dev (2): carol (owner, online), you (online)");
    await dave.write("/rooms");
    await dave.waitFor("* Rooms (1):");
    await dave.waitFor("  #dev (invite-only, 2 members, you are in it): release   day");
    await carol.write("/owner @dave #dev");
    await carol.waitFor("* #dev: you handed it to dave, its owner now");
    await dave.waitFor("* #dev: carol handed it to you, its owner now");
    await dave.write("/kick carol #dev");
    await carol.waitFor("* #dev: dave removed you");
    await dave.waitFor("* #dev: you removed carol");
    await dave.write("/leave #dev");
    await dave.waitFor("* You left #dev.");
    await dave.write("/leave #dev");
    await dave.waitFor("! You are not in #dev.");
    await dave.write("/join #a b");
    await dave.waitFor("! Usage: /join #<room> [invite]");
    await dave.write("/join #-x");
    await dave.waitFor("! Room names cannot start with '.' or '-'.");
  }));

Deno.test("an invitation still standing is shown at sign-in", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    await bob.quit();
    await join(alice, "ops", { visibility: "invite" });
    await alice.request({ type: "invite", room: "ops", user: "bob" }, "invited");
    const again = await server.client();
    await again.login("bob", PASSWORD);
    const shown = await again.nextOf("invite");
    assert.deepEqual([shown.room, shown.by], ["#ops", "alice"]);

    // Declined (leave without being in it), it is not shown again, and no longer lets him in.
    const declined = await again.request({ type: "leave", room: "ops" }, "left");
    assert.deepEqual([declined.room, declined.declined], ["#ops", true]);
    await again.quit();
    const third = await server.client();
    await third.login("bob", PASSWORD);
    assert.equal(await refused(join(third, "ops")), "not_invited");
    assert.ok(!third.buffered.some((e) => e.type === "invite"), "no invitation shown");
  }));

Deno.test("room membership survives a SIGKILL and restart of the server", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-rooms-kill-" });
  try {
    const first = await spawnServer(dataDir);
    const alice = await connectTcp({ port: first.tcpPort, verifyIdentity: first.pin });
    const bob = await connectTcp({ port: first.tcpPort, verifyIdentity: first.pin });
    try {
      await alice.register("alice", PASSWORD);
      await bob.register("bob", PASSWORD);
      await join(alice, "ops", { visibility: "invite" });
      await alice.request({ type: "topic", room: "ops", text: "on call" }, "room");
      await alice.request({ type: "invite", room: "ops", user: "bob" }, "invited");
      await join(bob, "ops");
      await join(bob, "dev");
      // Killed right after the last answer: nothing more is flushed.
      assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL");
    } finally {
      alice.close();
      bob.close();
      await Promise.all([alice.closed, bob.closed]);
    }

    const second = await spawnServer(dataDir);
    const back = await connectTcp({ port: second.tcpPort, verifyIdentity: second.pin });
    try {
      await back.login("bob", PASSWORD);
      const rooms = await back.request({ type: "rooms" }, "rooms");
      assert.deepEqual(rooms.rooms.map((r) => [r.name, r.role, r.members, r.topic]), [
        ["#dev", "owner", 1, ""],
        ["#ops", "member", 2, "on call"],
      ]);
      const members = await back.request({ type: "members", room: "ops" }, "members");
      assert.deepEqual(members.members, [
        { name: "alice", role: "owner", state: "offline" },
        { name: "bob", role: "member", state: "online" },
      ]);
    } finally {
      back.close();
      await back.closed;
      await second.stop("SIGTERM");
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("joining a room shows its last page of history, oldest first, in JSON and text mode", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    await join(alice, "dev");
    for (const text of ["one", "two", "three"]) await alice.send("#dev", text);

    const bob = await server.user("bob");
    await join(bob, "dev");
    const page = await bob.nextOf("history");
    assert.equal(page.with, "#dev");
    assert.deepEqual(page.messages.map((m) => m.text), ["one", "two", "three"]);
    assert.equal(page.more, false);

    // A room just created has no history to show.
    await join(bob, "empty");
    await join(bob, "dev");
    const again = await bob.nextOf("history");
    assert.ok(!bob.buffered.some((e) => e.type === "history"));
    assert.equal(again.with, "#dev");

    const carol = await textUser(server, "carol");
    await carol.write("/join #dev");
    await carol.waitFor("* You are in #dev (public, 3 members).");
    await carol.waitFor("* History with #dev, 3 lines:");
    await carol.waitFor(/^\[\d\d:\d\d\] #dev alice: one$/);
    await carol.waitFor(/^\[\d\d:\d\d\] #dev alice: three$/);
  }));
