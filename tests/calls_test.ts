/**
 * Call signalling through the router over real TCP JSON sessions (docs/protocol.md, "Calls"):
 * ringing every device, the first to accept wins, offer/answer/ICE relayed only between the two
 * sessions in the call, refusals in words, the ring timeout, and the entry each call leaves.
 */
import assert from "node:assert/strict";
import { type ParleyClient, ServerError } from "../lib/client/mod.ts";
import type { ServerEvent } from "../lib/protocol/types.ts";
import { PASSWORD, withServer } from "./helpers.ts";
import { TEXT_PASSWORD, textUser } from "./raw.ts";
import { ClientProcess } from "./terminal_process.ts";

type CallEvent = Extract<ServerEvent, { type: "call" }>;

const OFFER =
  "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
const ANSWER =
  "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
const CANDIDATE = {
  candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
  sdpMid: "0",
  sdpMLineIndex: 0,
};

/** Says this client takes calls; returns the answer. */
const takeCalls = (c: ParleyClient) => c.request({ type: "calls", on: true }, "calls");

/** Rings `to`; returns the caller's `ringing` (or `ended`) event. */
const ring = (c: ParleyClient, to: string, media = "video") =>
  c.request({ type: "call_ring", to, media }, "call");

type CallAction = "call_accept" | "call_decline" | "call_hangup";

const act = (
  c: ParleyClient,
  type: CallAction,
  call: string,
  extra: Record<string, unknown> = {},
) => c.request({ type, call, ...extra }, "call");

async function refusal(p: Promise<unknown>): Promise<ServerError> {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof ServerError, `expected a refusal, got ${err}`);
  assert.ok(err.message.length > 10, `a sentence, not just a code: ${err.message}`);
  return err;
}

/** The newest entry of a private conversation's history. */
async function lastEntry(c: ParleyClient, peer: string) {
  const page = await c.request({ type: "history", with: `@${peer}` }, "history");
  return page.messages.at(-1);
}

Deno.test("calls: every device rings, the first to accept wins, signals reach only the peer", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob1 = await server.user("bob");
    const bob2 = await server.client();
    await bob2.login("bob", PASSWORD);
    for (const c of [alice, bob1, bob2]) await takeCalls(c);

    const ringing = await ring(alice, "bob");
    assert.equal(ringing.state, "ringing");
    assert.equal(ringing.with, "bob");
    assert.equal(ringing.media, "video");
    const id = ringing.call;
    const in1 = await bob1.nextOf("call", (e) => e.call === id);
    const in2 = await bob2.nextOf("call", (e) => e.call === id);
    assert.equal(in1.state, "incoming");
    assert.equal(in1.with, "alice");
    assert.equal(in2.state, "incoming");

    // bob's second device answers; the first stops ringing.
    const stopped = bob1.nextOf("call", (e) => e.call === id && e.state === "ended");
    const accepted = await act(bob2, "call_accept", id);
    assert.equal(accepted.state, "accepted");
    assert.equal((await stopped).reason, "answered_elsewhere");
    assert.equal((await alice.nextOf("call", (e) => e.state === "accepted")).with, "bob");
    // The first device can no longer take it.
    assert.equal((await refusal(act(bob1, "call_accept", id))).code, "call_state");

    // Offer, answer and candidates go between alice and bob's second device only.
    alice.sendFrame({ type: "call_offer", call: id, sdp: OFFER });
    assert.equal((await bob2.nextOf("call_offer")).sdp, OFFER);
    bob2.sendFrame({ type: "call_answer", call: id, sdp: ANSWER });
    assert.equal((await alice.nextOf("call_answer")).sdp, ANSWER);
    bob2.sendFrame({ type: "call_ice", call: id, candidate: CANDIDATE });
    assert.deepEqual((await alice.nextOf("call_ice")).candidate, CANDIDATE);
    alice.sendFrame({ type: "call_ice", call: id, candidate: CANDIDATE });
    await bob2.nextOf("call_ice");
    assert.ok(!bob1.buffered.some((e) => e.type.startsWith("call_")), "bob1 got no signal");
    // Only the caller offers, only the callee answers.
    const wrong = await refusal(
      bob2.request({ type: "call_offer", call: id, sdp: OFFER }, "call_offer"),
    );
    assert.equal(wrong.code, "call_state");

    // A third user cannot touch the call; both parties are busy for anyone else.
    const carol = await server.user("carol");
    await takeCalls(carol);
    assert.equal((await refusal(act(carol, "call_hangup", id))).code, "no_such_call");
    const busy = await ring(carol, "bob", "audio");
    assert.equal(busy.state, "ended");
    assert.equal(busy.reason, "busy");
    assert.equal((await refusal(ring(alice, "carol"))).code, "in_call");

    // alice hangs up: both hear it, and the conversation keeps the call with its duration.
    const ended = await act(alice, "call_hangup", id);
    assert.equal(ended.state, "ended");
    assert.equal(ended.reason, "hangup");
    assert.equal(typeof ended.duration, "number");
    const bobEnded = await bob2.nextOf("call", (e) => e.state === "ended");
    assert.equal(bobEnded.reason, "hangup");
    const entry = await bob2.nextOf("message", (m) => m.call?.outcome === "ended");
    assert.equal(entry.from, "alice");
    assert.equal(entry.call!.media, "video");
    assert.match(entry.text, /^\(video call, \d+:\d\d\)$/);
    const kept = await lastEntry(bob1, "alice");
    assert.deepEqual(kept?.call, entry.call);
    // carol's busy ring left bob a missed call.
    const missed = await lastEntry(bob1, "carol");
    assert.deepEqual(missed?.call, { media: "audio", outcome: "missed" });
  }));

Deno.test("calls: a declined call ends for the caller and every ringing device, and is kept", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob1 = await server.user("bob");
    const bob2 = await server.client();
    await bob2.login("bob", PASSWORD);
    for (const c of [alice, bob1, bob2]) await takeCalls(c);
    const { call } = await ring(alice, "bob", "audio");
    await bob2.nextOf("call", (e) => e.state === "incoming");
    const declined = await act(bob1, "call_decline", call);
    assert.equal(declined.reason, "declined");
    assert.equal((await alice.nextOf("call", (e) => e.state === "ended")).reason, "declined");
    assert.equal((await bob2.nextOf("call", (e) => e.state === "ended")).reason, "declined");
    const entry = await alice.nextOf("message", (m) => m.call !== undefined);
    assert.deepEqual(entry.call, { media: "audio", outcome: "declined" });
    assert.equal(entry.text, "(voice call, declined)");
    // Signalling for a call that is over is refused.
    const late = await refusal(
      alice.request({ type: "call_offer", call, sdp: OFFER }, "call_offer"),
    );
    assert.equal(late.code, "no_such_call");
  }));

Deno.test("calls: offline, oneself, nobody, and signalling before the answer are refused in words", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const carol = await server.user("carol");
    await carol.quit();
    const bob = await server.user("bob");
    await takeCalls(bob);
    // A session that did not say it takes calls cannot place one.
    assert.equal((await refusal(ring(alice, "bob"))).code, "calls_unavailable");
    await takeCalls(alice);
    const offline = await refusal(ring(alice, "carol"));
    assert.equal(offline.code, "user_offline");
    assert.match(offline.message, /carol is offline/);
    assert.equal((await refusal(ring(alice, "alice"))).code, "call_self");
    assert.equal((await refusal(ring(alice, "@nobody"))).code, "no_such_user");
    const { call } = await ring(alice, "@bob");
    const early = await refusal(
      alice.request({ type: "call_offer", call, sdp: OFFER }, "call_offer"),
    );
    assert.equal(early.code, "call_state");
    // The caller cancels: bob stops ringing, and gets a missed call.
    assert.equal((await act(alice, "call_hangup", call)).reason, "cancelled");
    assert.equal((await bob.nextOf("call", (e) => e.state === "ended")).reason, "cancelled");
    const entry = await bob.nextOf("message", (m) => m.call !== undefined);
    assert.deepEqual(entry.call, { media: "video", outcome: "missed" });
  }));

Deno.test("calls: nobody answers within the ring time: both hear timeout, bob has a missed call", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    const answer = await takeCalls(alice);
    assert.equal(answer.ringSeconds, 0);
    assert.deepEqual(answer.iceServers, [
      { urls: ["stun:stun.example.org:3478"] },
      { urls: ["turn:turn.example.org:3478"], username: "u", credential: "c" },
    ]);
    await takeCalls(bob);
    const { call } = await ring(alice, "bob");
    const ended = await alice.nextOf("call", (e) => e.call === call && e.state === "ended");
    assert.equal(ended.reason, "timeout");
    assert.equal((await bob.nextOf("call", (e) => e.state === "ended")).reason, "timeout");
    assert.deepEqual((await lastEntry(bob, "alice"))?.call, { media: "video", outcome: "missed" });
    // Over: either may call again.
    assert.equal((await ring(bob, "alice")).state, "ringing");
  }, {
    limits: { callRingMs: 200 },
    iceServers: [
      { urls: ["stun:stun.example.org:3478"] },
      { urls: ["turn:turn.example.org:3478"], username: "u", credential: "c" },
    ],
  }));

Deno.test("calls: a callee in text mode is told a call was attempted; the caller why it failed", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    await takeCalls(alice);
    const nc = await textUser(server, "dora");
    const err = await refusal(ring(alice, "dora"));
    assert.equal(err.code, "calls_unavailable");
    assert.match(err.message, /dora cannot take calls where they are signed in/);
    await nc.waitFor("* alice tried to call you (a video call). Calls work in the browser");
    // With a browser-like session too, that one rings and the text one still gets the line.
    const dora = await server.client();
    await dora.login("dora", TEXT_PASSWORD);
    await takeCalls(dora);
    const { call } = await ring(alice, "dora", "audio");
    await dora.nextOf("call", (e) => e.call === call && e.state === "incoming");
    await nc.waitFor("* alice tried to call you (a voice call).");
  }));

Deno.test("calls: a device that goes away ends its call for the other side", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    for (const c of [alice, bob]) await takeCalls(c);
    const { call } = await ring(alice, "bob");
    await act(bob, "call_accept", call);
    await alice.nextOf("call", (e) => e.state === "accepted");
    bob.close();
    const ended: CallEvent = await alice.nextOf("call", (e) => e.state === "ended");
    assert.equal(ended.reason, "disconnected");
    assert.equal(
      (await alice.nextOf("message", (m) => m.call !== undefined)).call?.outcome,
      "ended",
    );
    assert.equal(server.router.calls.book.size, 0);
  }));

Deno.test("calls: a callee on the terminal client sees that a call was attempted", () =>
  withServer(async (server) => {
    const term = new ClientProcess(server.port, ["--name", "erin", "--register"]);
    try {
      await term.type(PASSWORD, PASSWORD, "");
      await term.waitFor("Welcome, erin!");
      const alice = await server.user("alice");
      await takeCalls(alice);
      const err = await refusal(ring(alice, "erin", "audio"));
      assert.equal(err.code, "calls_unavailable");
      await term.waitFor("alice tried to call you (a voice call). Calls work in the browser");
      assert.equal((await term.end()).code, 0);
    } finally {
      await term.dispose();
    }
  }));
