/**
 * A client that ends its input (a TCP half-close: `printf ... | nc`, a script's `closeWrite()`)
 * still reads: it gets the answer to every line it sent, in either mode, then a goodbye. A client
 * that is simply gone is let go as soon as its last commands are done.
 */
import assert from "node:assert/strict";
import { PASSWORD, within, withServer } from "./helpers.ts";
import { TEXT_PASSWORD } from "./raw.ts";

const utf8 = new TextEncoder();

Deno.test("half-close: text mode answers every line, the last one without a newline too", () =>
  withServer(async (server) => {
    const piped = await server.text();
    // As `printf '/register zed pw\n/who' | nc` sends it: no newline after the last command.
    await piped.write(utf8.encode(`/register zed ${TEXT_PASSWORD}\n/who`));
    await piped.closeWrite();
    await piped.waitFor("* Registered. Welcome, zed! Your language is en.");
    await piped.waitFor(/^\* Online \(1\): zed \(you\)/); // the welcome's own list
    await piped.waitFor(/^\* Online \(1\): zed \(you\)/); // the answer to /who
    await piped.waitFor("* Goodbye: your input ended");
    await piped.waitClosed();
    assert.deepEqual(piped.lines, [], "nothing after the goodbye");
  }));

Deno.test("half-close: JSON mode answers every frame it opened, then says bye", () =>
  withServer(async (server) => {
    (await server.user("bob")).close();
    const s = await server.secure();
    await s.write(JSON.stringify({ type: "login", name: "bob", password: PASSWORD, cid: "l1" }));
    // The last sealed line without its newline: the end of input ends it.
    const who = await s.session.seal(JSON.stringify({ type: "who", cid: "w1" }));
    await s.writeRaw(utf8.encode(who));
    await s.raw.closeWrite();
    assert.equal(JSON.parse(await s.waitFor(/"type":"welcome"/)).cid, "l1");
    assert.equal(JSON.parse(await s.waitFor(/"type":"who"/)).cid, "w1");
    assert.deepEqual(JSON.parse(await s.waitFor(/"type":"bye"/)), {
      type: "bye",
      reason: "your input ended",
    });
    await s.waitClosed();
  }));

Deno.test("half-close: a client that closes altogether is let go once its commands are done", () =>
  withServer(async (server) => {
    const gone = await server.text();
    await gone.write(`/register zed ${TEXT_PASSWORD}`);
    await gone.waitFor("* Registered. Welcome, zed! Your language is en.");
    await gone.write("/who\n@nobody hi");
    await gone.closeAndWait();
    // The replies have nobody to read them: the connection's place and session are given back.
    await within(server.tcp.drained(), 5000, "the server letting the connection go");
    assert.equal(server.router.admission.open, 0);
  }));
