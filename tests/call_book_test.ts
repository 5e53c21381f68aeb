/**
 * The call state machine on its own (lib/router/call_book.ts): sessions are plain strings, what
 * the book decides is recorded, time is a fake clock.
 */
import assert from "node:assert/strict";
import { isParleyError } from "../lib/errors.ts";
import { CallBook, type FinishedCall, newCallId } from "../lib/router/call_book.ts";
import type { ServerEvent } from "../lib/protocol/types.ts";

const ALICE = { key: "alice", name: "Alice" };
const BOB = { key: "bob", name: "Bob" };
const CAROL = { key: "carol", name: "Carol" };

function book(ringMs = 60_000, busyElsewhere?: (key: string) => boolean) {
  const sent: { to: string; event: ServerEvent }[] = [];
  const finished: FinishedCall[] = [];
  let now = 1_000_000;
  const calls = new CallBook<string>({
    send: (targets, event) => targets.forEach((to) => sent.push({ to, event })),
    finished: (call) => finished.push(call),
  }, { ringMs, now: () => now, busyElsewhere });
  return {
    calls,
    sent,
    finished,
    tick: (ms: number) => now += ms,
    /** What `session` was told, as `state`/`reason` pairs. */
    heard: (session: string) =>
      sent.filter((s) => s.to === session && s.event.type === "call").map((s) => {
        const e = s.event as Extract<ServerEvent, { type: "call" }>;
        return e.reason ? `${e.state}:${e.reason}` : e.state;
      }),
  };
}

function refusedWith(code: string, fn: () => unknown): void {
  assert.throws(fn, (err) => isParleyError(err) && err.code === code);
}

Deno.test("call book: ring, accept on one device, hang up after 65 s", () => {
  const b = book();
  const id = b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1", "b2"], "video", "c1");
  assert.match(id, /^call-[0-9a-v]{26}$/);
  assert.deepEqual(b.sent[0], {
    to: "a1",
    event: { type: "call", call: id, media: "video", with: "Bob", state: "ringing", cid: "c1" },
  });
  assert.deepEqual(b.heard("b1"), ["incoming"]);
  assert.deepEqual(b.heard("b2"), ["incoming"]);
  assert.ok(b.calls.inCall("alice") && b.calls.inCall("bob"));

  b.calls.accept(id, "b2", "bob");
  assert.deepEqual(b.heard("a1"), ["ringing", "accepted"]);
  assert.deepEqual(b.heard("b2"), ["incoming", "accepted"]);
  assert.deepEqual(b.heard("b1"), ["incoming", "ended:answered_elsewhere"]);
  // Signals go between a1 and b2 only.
  assert.equal(b.calls.peerOf(id, "a1", "alice", "offer"), "b2");
  assert.equal(b.calls.peerOf(id, "b2", "bob", "answer"), "a1");
  assert.equal(b.calls.peerOf(id, "b2", "bob", "ice"), "a1");
  refusedWith("no_such_call", () => b.calls.peerOf(id, "b1", "bob", "ice"));
  refusedWith("call_state", () => b.calls.peerOf(id, "b2", "bob", "offer"));
  refusedWith("call_state", () => b.calls.peerOf(id, "a1", "alice", "answer"));

  b.tick(65_000);
  b.calls.hangup(id, "b2", "bob", "c9");
  const last = b.sent.filter((s) => s.to === "b2").at(-1)!.event;
  assert.deepEqual(last, {
    type: "call",
    call: id,
    with: "Alice",
    media: "video",
    state: "ended",
    reason: "hangup",
    duration: 65,
    cid: "c9",
  });
  assert.deepEqual(b.heard("a1").at(-1), "ended:hangup");
  assert.deepEqual(b.finished, [{
    caller: ALICE,
    callee: BOB,
    media: "video",
    outcome: "ended",
    duration: 65,
  }]);
  assert.equal(b.calls.size, 0);
  assert.ok(!b.calls.inCall("alice") && !b.calls.inCall("bob"));
  refusedWith("no_such_call", () => b.calls.hangup(id, "a1", "alice"));
});

Deno.test("call book: refusals before ringing, and busy", () => {
  const b = book();
  refusedWith(
    "call_self",
    () => b.calls.ring({ session: "a1", party: ALICE }, ALICE, ["a2"], "audio"),
  );
  refusedWith(
    "user_offline",
    () => b.calls.ring({ session: "a1", party: ALICE }, BOB, [], "audio"),
  );
  const id = b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1"], "audio");
  refusedWith(
    "in_call",
    () => b.calls.ring({ session: "a2", party: ALICE }, CAROL, ["c1"], "audio"),
  );
  // Carol rings Bob, who is in a call: she hears busy at once, he gets a missed call.
  const busy = b.calls.ring({ session: "c1", party: CAROL }, BOB, ["b1"], "audio");
  assert.notEqual(busy, id);
  assert.deepEqual(b.heard("c1"), ["ended:busy"]);
  assert.deepEqual(b.heard("b1"), ["incoming"]);
  assert.deepEqual(b.finished, [{ caller: CAROL, callee: BOB, media: "audio", outcome: "missed" }]);
  assert.ok(!b.calls.inCall("carol"));
  // Only the callee accepts or declines; an unknown id is no call.
  refusedWith("no_such_call", () => b.calls.accept(id, "a1", "alice"));
  refusedWith("no_such_call", () => b.calls.decline(id, "a1", "alice"));
  refusedWith("no_such_call", () => b.calls.accept(newCallId(), "b1", "bob"));
  refusedWith("no_such_call", () => b.calls.accept(id, "c1", "carol"));
  // Before the answer there is nobody to signal to.
  refusedWith("call_state", () => b.calls.peerOf(id, "a1", "alice", "offer"));
  b.calls.accept(id, "b1", "bob");
  refusedWith("call_state", () => b.calls.accept(id, "b1", "bob"));
  refusedWith("call_state", () => b.calls.decline(id, "b1", "bob"));
});

Deno.test("call book: decline, cancel and the ring timeout end the call as missed or declined", async () => {
  const b = book(30);
  const declined = b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1", "b2"], "video");
  b.calls.decline(declined, "b1", "bob");
  assert.deepEqual(b.heard("a1"), ["ringing", "ended:declined"]);
  assert.deepEqual(b.heard("b2"), ["incoming", "ended:declined"]);
  const cancelled = b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1"], "video");
  b.calls.hangup(cancelled, "a1", "alice");
  assert.deepEqual(b.heard("b1").at(-1), "ended:cancelled");
  // A ringing callee hanging up declines.
  const hung = b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1"], "audio");
  b.calls.hangup(hung, "b1", "bob");
  assert.deepEqual(b.heard("a1").at(-1), "ended:declined");
  b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1"], "audio");
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.deepEqual(b.heard("a1").at(-1), "ended:timeout");
  assert.deepEqual(b.heard("b1").at(-1), "ended:timeout");
  assert.deepEqual(b.finished.map((f) => f.outcome), ["declined", "missed", "declined", "missed"]);
  assert.equal(b.calls.size, 0);
});

Deno.test("call book: sessions that go away", () => {
  const b = book();
  // One of two ringing devices goes: the other rings on; when it goes too, unreachable.
  const id = b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1", "b2"], "video");
  b.calls.gone("b1", "bob");
  assert.equal(b.calls.size, 1);
  b.calls.gone("b2", "bob");
  assert.deepEqual(b.heard("a1").at(-1), "ended:unreachable");
  refusedWith("no_such_call", () => b.calls.accept(id, "b2", "bob"));
  // The caller goes while it rings: the callee stops ringing.
  b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1"], "video");
  b.calls.gone("a1", "alice");
  assert.deepEqual(b.heard("b1").at(-1), "ended:disconnected");
  // A party goes during the call: the other hears it, the one gone hears nothing.
  const live = b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1"], "video");
  b.calls.accept(live, "b1", "bob");
  const before = b.heard("b1").length;
  b.calls.gone("b1", "bob");
  assert.deepEqual(b.heard("a1").at(-1), "ended:disconnected");
  assert.equal(b.heard("b1").length, before);
  // A session of a user in no call, or of the user but not in the call, changes nothing.
  b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1"], "video");
  b.calls.gone("a2", "alice");
  b.calls.gone("x", "carol");
  assert.equal(b.calls.size, 1);
  assert.deepEqual(b.finished.map((f) => f.outcome), ["missed", "missed", "ended"]);
  b.calls.close();
  assert.equal(b.calls.size, 0);
});

Deno.test("call book: a group of sessions elsewhere is named later, or counted out, or busy", () => {
  const b = book();
  // Bob's sessions on another node ring as one group until that node names them.
  const id = b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1", "n/"], "video");
  assert.deepEqual(b.heard("n/"), ["incoming"]);
  b.calls.replaceRinging(id, "n/", ["n/7", "n/8"]);
  b.calls.accept(id, "n/8", "bob");
  assert.deepEqual(b.heard("n/7"), ["ended:answered_elsewhere"]);
  assert.deepEqual(b.heard("b1"), ["incoming", "ended:answered_elsewhere"]);
  assert.equal(b.calls.peerOf(id, "a1", "alice", "offer"), "n/8");
  // Named after the answer: nothing changes.
  b.calls.replaceRinging(id, "n/", ["n/9"]);
  assert.deepEqual(b.heard("n/9"), []);
  // That node dies: the call ends for alice, as if the session went away.
  b.calls.goneWhere((s) => s.startsWith("n/"));
  assert.deepEqual(b.heard("a1").at(-1), "ended:disconnected");
  assert.equal(b.calls.size, 0);

  // A group that turns out empty, when nothing else rings: unreachable.
  const alone = b.calls.ring({ session: "a1", party: ALICE }, BOB, ["n/"], "audio");
  b.calls.replaceRinging(alone, "n/", []);
  assert.deepEqual(b.heard("a1").at(-1), "ended:unreachable");
  // A node that says bob is in a call there: busy, a missed call.
  const late = b.calls.ring({ session: "a1", party: ALICE }, BOB, ["b1", "n/"], "audio");
  b.calls.busy(late);
  assert.deepEqual(b.heard("a1").at(-1), "ended:busy");
  assert.deepEqual(b.heard("b1").at(-1), "ended:busy");
  assert.equal(b.finished.at(-1)!.outcome, "missed");
});

Deno.test("call book: a user in a call another node holds is busy, and cannot ring", () => {
  const b = book(60_000, (key) => key === "carol");
  b.calls.ring({ session: "a1", party: ALICE }, CAROL, ["c1"], "audio");
  assert.deepEqual(b.heard("a1"), ["ended:busy"]);
  assert.deepEqual(b.heard("c1"), []);
  refusedWith(
    "in_call",
    () => b.calls.ring({ session: "c1", party: CAROL }, BOB, ["b1"], "audio"),
  );
});
