import assert from "node:assert/strict";
import { presenceNames } from "../lib/protocol/presence_summary.ts";
import { PASSWORD, startServer, withServer } from "./helpers.ts";

Deno.test("JSON clients exchange private and broadcast messages both ways", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    const carol = await server.user("carol");

    const toBob = await alice.send("bob", "hi bob");
    assert.equal(toBob.status, "delivered");
    const got = await bob.nextOf("message");
    assert.deepEqual(
      { id: got.id, from: got.from, to: got.to, text: got.text },
      { id: toBob.id, from: "alice", to: "bob", text: "hi bob" },
    );
    assert.ok(Math.abs(got.ts - Date.now()) < 5000);

    const toAlice = await bob.send("ALICE", "hi alice");
    assert.equal(toAlice.to, "alice", "names resolve without regard to case");
    assert.equal((await alice.nextOf("message")).text, "hi alice");

    const all = await carol.send("all", "hello everyone");
    assert.equal(all.status, "delivered");
    assert.equal(all.recipients, 2);
    for (const c of [alice, bob]) {
      const m = await c.nextOf("message", (m) => m.to === "all");
      assert.equal(m.text, "hello everyone");
      assert.equal(m.from, "carol");
    }
    // The private message went to bob only.
    assert.ok(!carol.buffered.some((e) => e.type === "message"));
  }));

Deno.test("text-mode users talk with the documented line formats", () =>
  withServer(async (server) => {
    const alice = await server.text();
    await alice.waitFor("Name:");
    await alice.write(`/register alice ${PASSWORD.replace(" ", "-")}`);
    await alice.waitFor("Registered. Welcome, alice!");
    const bob = await server.text();
    await bob.waitFor("Name:");
    await bob.write(`/register bob ${PASSWORD.replace(" ", "-")} es`);
    await bob.waitFor("Your language is es");
    await alice.waitFor("* bob is online");

    await alice.write("@bob hi there");
    await bob.waitFor(/^\[\d\d:\d\d\] alice -> you: hi there$/);
    await alice.waitFor("(delivered to bob)");

    await bob.write("@all hello all");
    await alice.waitFor(/^\[\d\d:\d\d\] bob -> all: hello all$/);
    await bob.waitFor("(sent to all: 1 person online)");

    await alice.write("/who");
    await alice.waitFor("Online (2): alice (you), bob");

    await bob.write("/quit");
    await bob.waitFor("Goodbye");
    await bob.waitClosed();
    await alice.waitFor("* bob is offline");
  }));

Deno.test("a bare first line starts the interactive sign-in, registering a new name", () =>
  withServer(async (server) => {
    const t = await server.text();
    await t.waitFor("Name:");
    await t.write("dora");
    await t.waitFor("Password for dora:");
    await t.write("a long password");
    await t.waitFor("Language");
    await t.write("fr");
    await t.waitFor("Registered. Welcome, dora! Your language is fr.");
    await t.write("/quit");
    await t.waitClosed();

    // The same name again logs in, and an empty language keeps the one on file.
    const again = await server.text();
    await again.waitFor("Name:");
    await again.write("Dora");
    await again.write("a long password");
    await again.write("");
    await again.waitFor("Welcome back, dora! Your language is fr.");

    const wrong = await server.text();
    await wrong.waitFor("Name:");
    await wrong.write("dora");
    await wrong.write("not the password");
    await wrong.write("");
    await wrong.waitFor("! Wrong password.");
    await wrong.waitFor("Name:");
  }));

Deno.test("a text-mode user and a JSON-mode user talk to each other", () =>
  withServer(async (server) => {
    const json = await server.user("jay");
    const text = await server.text();
    await text.waitFor("Name:");
    await text.write("/login tess wrong-password-x");
    await text.waitFor("! There is no account named 'tess'.");
    await text.write(`/register tess ${PASSWORD.replace(" ", "_")}`);
    await text.waitFor("Welcome, tess");
    const online = await json.nextOf("presence");
    assert.deepEqual(online, { type: "presence", user: "tess", state: "online" });

    await text.write("@jay from the terminal");
    const m = await json.nextOf("message");
    assert.equal(m.from, "tess");
    assert.equal(m.text, "from the terminal");

    await json.send("tess", "from a program");
    await text.waitFor(/\] jay -> you: from a program$/);
    await json.send("all", "to all");
    await text.waitFor(/\] jay -> all: to all$/);
  }));

Deno.test("presence: online and offline once per user, not per device; who lists users", () =>
  withServer(async (server) => {
    const watcher = await server.user("watcher");
    const a1 = await server.user("multi");
    assert.deepEqual(await watcher.nextOf("presence"), {
      type: "presence",
      user: "multi",
      state: "online",
    });
    const a2 = await server.user("multi", { login: true });
    assert.equal(a2.welcome?.created, false);

    const who = await watcher.who();
    assert.deepEqual(
      who.users.map((u) => [u.name, u.state]),
      [["multi", "online"], ["watcher", "online"]],
    );

    await a1.quit();
    await watcher.ping(); // a round trip, so any presence change would have arrived
    assert.ok(
      !watcher.buffered.some((e) => e.type === "presence"),
      "one device left: still online",
    );
    await a2.quit();
    assert.deepEqual(await watcher.nextOf("presence"), {
      type: "presence",
      user: "multi",
      state: "offline",
    });
    const after = await watcher.who();
    assert.deepEqual(after.users.find((u) => u.name === "multi")?.state, "offline");
  }));

Deno.test("multi-device: every session gets every message, including the user's own sends", () =>
  withServer(async (server) => {
    const phone = await server.user("mia");
    const laptop = await server.user("mia", { login: true });
    const bob = await server.user("bob");

    await bob.send("mia", "to both devices");
    for (const d of [phone, laptop]) {
      assert.equal((await d.nextOf("message")).text, "to both devices");
    }
    const sent = await phone.send("bob", "from the phone");
    assert.equal((await bob.nextOf("message")).id, sent.id);
    const copy = await laptop.nextOf("message");
    assert.deepEqual([copy.id, copy.from, copy.to], [sent.id, "mia", "bob"]);

    await bob.send("all", "broadcast");
    for (const d of [phone, laptop]) assert.equal((await d.nextOf("message")).text, "broadcast");
  }));

Deno.test("typing reaches the addressed user, expires by itself and stops on send", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    const carol = await server.user("carol");
    await alice.nextOf("presence", (p) => presenceNames(p).includes("carol"));

    alice.typing("bob");
    assert.deepEqual(await bob.nextOf("presence", (p) => p.user === "alice"), {
      type: "presence",
      user: "alice",
      state: "typing",
      to: "bob",
    });
    const started = Date.now();
    const stop = await bob.nextOf("presence", (p) => p.user === "alice", 2000);
    assert.equal(stop.state, "online");
    assert.ok(Date.now() - started >= 200, "expired after the TTL, not at once");

    alice.typing("bob");
    await bob.nextOf("presence", (p) => p.state === "typing");
    await alice.send("bob", "done typing");
    assert.equal((await bob.nextOf("presence", (p) => p.user === "alice")).state, "online");

    await carol.ping();
    assert.ok(
      !carol.buffered.some((e) => e.type === "presence" && e.state === "typing"),
      "typing to bob is not shown to carol",
    );
  }, { limits: { typingTtlMs: 300 } }));

Deno.test("offline messages are stored, arrive in order at login, and go only after ack", async () => {
  const server = await startServer();
  try {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    await bob.quit();

    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const r = await alice.send("bob", `msg ${i}`, `cid-${i}`);
      assert.equal(r.status, "stored");
      ids.push(r.id);
    }
    // A resent client id is answered with the first outcome and not stored twice.
    const again = await alice.send("bob", "msg 1", "cid-1");
    assert.deepEqual([again.id, again.status, again.duplicate], [ids[0], "stored", true]);
    assert.equal(await server.store.pendingCount("bob"), 5);

    // Without an acknowledgement nothing is removed: a second login gets them all again.
    const { connectTcp } = await import("../lib/client/mod.ts");
    const noAck = await connectTcp({
      port: server.port,
      autoAck: false,
      verifyIdentity: server.pin,
    });
    const w = await noAck.login("bob", PASSWORD);
    assert.equal(w.pending, 5);
    const first = [];
    for (let i = 0; i < 5; i++) first.push(await noAck.nextOf("message"));
    assert.deepEqual(first.map((m) => m.text), ["msg 1", "msg 2", "msg 3", "msg 4", "msg 5"]);
    assert.ok(first.every((m) => m.offline && m.from === "alice" && m.to === "bob"));
    await noAck.quit();
    assert.equal(await server.store.pendingCount("bob"), 5);

    const bob2 = await server.user("bob", { login: true });
    assert.equal(bob2.welcome?.pending, 5);
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await bob2.nextOf("message"));
    assert.deepEqual(got.map((m) => m.id), ids);
    await bob2.nextOf("acked"); // the client library acknowledged them
    assert.equal(await server.store.pendingCount("bob"), 0);
    await assert.rejects(alice.send("nobody-here", "lost?"), /no_such_user/);
    assert.equal(await server.store.pendingCount("nobody-here"), 0);
  } finally {
    await server.close();
  }
});

Deno.test("offline messages survive a graceful restart", async () => {
  const first = await startServer();
  const dataDir = first.dataDir;
  try {
    const a = await first.user("alice");
    const b = await first.user("bob");
    await b.quit();
    assert.equal((await a.send("bob", "kept across restart")).status, "stored");
  } finally {
    await first.close({ removeData: false });
  }
  const second = await startServer({ dataDir });
  try {
    const bob = await second.user("bob", { login: true });
    assert.equal((await bob.nextOf("message")).text, "kept across restart");
  } finally {
    await second.close();
  }
});

Deno.test("text mode: stored messages count as delivered once written", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const t = await server.text();
    await t.waitFor("Name:");
    await t.write(`/register tom ${PASSWORD.replace(" ", "-")}`);
    await t.waitFor("Welcome");
    await t.write("/quit");
    await t.waitClosed();
    assert.equal((await alice.send("tom", "while you were out")).status, "stored");
    await alice.send("tom", "second one");

    const back = await server.text();
    await back.waitFor("Name:");
    await back.write(`/login tom ${PASSWORD.replace(" ", "-")}`);
    await back.waitFor("2 messages arrived while you were away");
    await back.waitFor(/alice -> you: while you were out$/);
    await back.waitFor(/alice -> you: second one$/);
    await alice.ping();
    // The write completed; the store lets go of them.
    for (let i = 0; i < 50 && await server.store.pendingCount("tom") > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await server.store.pendingCount("tom"), 0);
  }));

Deno.test("lang changes the preferred language on every device", () =>
  withServer(async (server) => {
    const a = await server.user("ana", { lang: "pt-br" });
    assert.equal(a.welcome?.lang, "pt-BR");
    const b = await server.user("ana", { login: true });
    assert.equal((await a.setLang("es")).lang, "es");
    assert.equal((await b.nextOf("lang")).lang, "es");
    const c = await server.user("ana", { login: true });
    assert.equal(c.welcome?.lang, "es");
    await assert.rejects(a.setLang("not a language"), /bad_argument/);
  }));

Deno.test("a language chosen at login reaches the user's other devices", () =>
  withServer(async (server) => {
    const laptop = await server.user("bo");
    const phone = await server.user("bo", { login: true, lang: "es" });
    assert.equal(phone.welcome?.lang, "es");
    assert.equal((await laptop.nextOf("lang")).lang, "es");
    const tablet = await server.user("bo", { login: true });
    assert.equal(tablet.welcome?.lang, "es");
    const who = await tablet.who();
    assert.equal(who.users.find((u) => u.name === "bo")?.lang, "es");
  }));

Deno.test("a note to oneself reaches one's other devices, and says when there are none", () =>
  withServer(async (server) => {
    const one = await server.user("solo");
    const alone = await one.send("solo", "note to self");
    assert.deepEqual([alone.status, alone.recipients], ["delivered", 0]);
    const two = await server.user("solo", { login: true });
    const seen = await one.send("solo", "to my other device");
    assert.equal(seen.recipients, 1);
    assert.equal((await two.nextOf("message")).text, "to my other device");
  }));
