import assert from "node:assert/strict";
import { welcomeEvent } from "./fixtures.ts";
import {
  Backoff,
  type FrameChannel,
  type ReconnectEvent,
  ReconnectingClient,
  type StatusEvent,
  TcpChannel,
} from "../lib/client/mod.ts";
import type { ServerEvent } from "../lib/protocol/types.ts";
import { PASSWORD, startServer } from "./helpers.ts";

type Frame = { type: string; cid?: string; [field: string]: unknown };

/** An in-memory channel; `onSend` plays the server. */
class FakeChannel implements FrameChannel {
  readonly frames: Frame[] = [];
  closed = false;
  #onFrame: ((frame: string) => void) | undefined;
  #onClose: ((reason: string) => void) | undefined;
  #serve: (channel: FakeChannel, frame: Frame) => void;

  constructor(serve: (channel: FakeChannel, frame: Frame) => void) {
    this.#serve = serve;
  }

  send(frame: string): void {
    if (this.closed) throw new Error("channel closed");
    const parsed = JSON.parse(frame) as Frame;
    this.frames.push(parsed);
    // Like the server: a goodbye closes the connection.
    queueMicrotask(() =>
      parsed.type === "quit" ? this.drop("you quit") : this.#serve(this, parsed)
    );
  }

  start(onFrame: (frame: string) => void, onClose: (reason: string) => void): void {
    this.#onFrame = onFrame;
    this.#onClose = onClose;
  }

  /** Sends an event to the client. */
  reply(event: ServerEvent): void {
    if (!this.closed) this.#onFrame!(JSON.stringify(event));
  }

  /** The connection drops. */
  drop(reason = "connection reset"): void {
    if (this.closed) return;
    this.closed = true;
    queueMicrotask(() => this.#onClose!(reason));
  }

  close(): void {
    this.drop("closed");
  }
}

function welcome(cid: string | undefined, user = "alice"): ServerEvent {
  return welcomeEvent({ user, cid });
}

/** Collects events, and waits for one that matches. */
class Recorder {
  readonly events: ReconnectEvent[] = [];
  #waiters: Array<{ match: (e: ReconnectEvent) => boolean; resolve: (e: ReconnectEvent) => void }> =
    [];

  constructor(client: ReconnectingClient) {
    client.on((e) => {
      this.events.push(e);
      const w = this.#waiters.find((w) => w.match(e));
      if (w) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(e);
      }
    });
  }

  /** Resolves with the first event from now on that matches (no timeout: the test's own). */
  next(match: (e: ReconnectEvent) => boolean): Promise<ReconnectEvent> {
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  status(state: StatusEvent["state"]): Promise<StatusEvent> {
    return this.next((e) => e.type === "status" && e.state === state) as Promise<StatusEvent>;
  }

  get statuses(): string[] {
    return this.events.flatMap((e) =>
      e.type === "status" ? [`${e.state}${"attempt" in e ? ` ${e.attempt}` : ""}`] : []
    );
  }
}

const fast = { initialDelayMs: 5, maxDelayMs: 40, random: () => 0, pingIntervalMs: 0 };

Deno.test("Backoff doubles the delay, caps it, jitters it and starts over on reset", () => {
  const exact = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, random: () => 0 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => exact.next()), [100, 200, 400, 800, 1000, 1000]);
  exact.reset();
  assert.equal(exact.next(), 100);
  const jittered = new Backoff({ initialDelayMs: 1000, jitter: 0.5, random: () => 0.999 });
  const d = jittered.next();
  assert.ok(d >= 500 && d <= 1000, `${d} is within the jitter`);
  assert.throws(
    () => new Backoff({ initialDelayMs: 10, maxDelayMs: 5 }),
    /Cannot back off as 'maxDelayMs' is out of range: current value is 5/,
  );
});

Deno.test("ReconnectingClient resends an unacknowledged send with the same cid", async () => {
  const channels: FakeChannel[] = [];
  const sendCids: string[] = [];
  const client = new ReconnectingClient({
    ...fast,
    dial: () => {
      const connection = channels.length;
      const channel = new FakeChannel((ch, frame) => {
        if (frame.type === "login") ch.reply(welcome(frame.cid));
        if (frame.type === "send") {
          sendCids.push(frame.cid!);
          // The first connection dies before the outcome comes back; the second answers.
          if (connection === 0) ch.drop();
          else {
            ch.reply({
              type: "sent",
              id: "m1",
              to: "bob",
              status: "delivered",
              recipients: 1,
              duplicate: true,
              cid: frame.cid,
            });
          }
        }
      });
      channels.push(channel);
      return Promise.resolve(channel);
    },
  });
  const seen = new Recorder(client);
  try {
    await client.connect({ name: "alice", password: PASSWORD, lang: "en" });
    const offline = seen.status("offline");
    const sent = client.send("bob", "hello");
    const drop = await offline as Extract<StatusEvent, { state: "offline" }>;
    assert.equal(drop.reason, "connection reset");
    assert.equal(drop.retryInMs, 5);
    const outcome = await sent;
    assert.equal(outcome.id, "m1");
    assert.equal(sendCids.length, 2);
    assert.equal(sendCids[0], sendCids[1], "the resend reuses the cid");
    assert.deepEqual(seen.statuses, [
      "connecting 0",
      "online",
      "offline 1",
      "connecting 1",
      "online",
    ]);
    const back = seen.events.findLast((e) => e.type === "status" && e.state === "online");
    assert.ok(back?.type === "status" && back.state === "online" && back.reconnected);
    assert.equal(back.resending, 1);
    // The second login keeps the language the server stored: it is not sent again.
    const logins = channels.map((c) => c.frames.find((f) => f.type === "login")!);
    assert.equal(logins[0].lang, "en");
    assert.equal(logins[1].lang, undefined);
    assert.equal(client.pendingSends, 0);
  } finally {
    await client.quit();
  }
  assert.equal(client.state, "closed");
});

Deno.test("ReconnectingClient keeps a send the server could not store, and sends it again", async () => {
  const sendCids: string[] = [];
  const client = new ReconnectingClient({
    ...fast,
    sendRetry: { initialDelayMs: 5, maxDelayMs: 40, random: () => 0 },
    dial: () =>
      Promise.resolve(
        new FakeChannel((ch, frame) => {
          if (frame.type === "login") ch.reply(welcome(frame.cid));
          if (frame.type !== "send") return;
          sendCids.push(frame.cid!);
          // The disk is full for the first two tries, then there is room.
          if (sendCids.length <= 2) {
            ch.reply({
              type: "error",
              code: "storage_full",
              message: "Not stored: the server's disk is full; try again later.",
              cid: frame.cid,
            });
          } else {
            ch.reply({
              type: "sent",
              id: "m1",
              to: "bob",
              status: "stored",
              recipients: 0,
              cid: frame.cid,
            });
          }
        }),
      ),
  });
  const seen = new Recorder(client);
  try {
    await client.connect({ name: "alice", password: PASSWORD });
    const outcome = await client.send("bob", "hello");
    assert.equal(outcome.status, "stored");
    assert.equal(sendCids.length, 3);
    assert.equal(new Set(sendCids).size, 1, "every try reuses the cid");
    const retries = seen.events.filter((e) => e.type === "retrying");
    assert.deepEqual(
      retries.map((e) => e.type === "retrying" && [e.cid, e.to, e.code, e.attempt, e.retryInMs]),
      [[sendCids[0], "bob", "storage_full", 1, 5], [sendCids[0], "bob", "storage_full", 2, 10]],
    );
    assert.match(
      retries[0].type === "retrying" ? retries[0].message : "",
      /the server's disk is full/,
    );
    // Kept, not failed: no error reached the listeners, and nothing is left waiting.
    assert.equal(seen.events.filter((e) => e.type === "error").length, 0);
    assert.equal(client.pendingSends, 0);
  } finally {
    await client.quit();
  }
});

Deno.test("ReconnectingClient backs off while the server is away, then comes back", async () => {
  const channels: FakeChannel[] = [];
  let refusals = 0;
  const client = new ReconnectingClient({
    ...fast,
    dial: () => {
      if (refusals > 0) {
        refusals--;
        return Promise.reject(new Error("Connection refused (os error 111)"));
      }
      const channel = new FakeChannel((ch, frame) => {
        if (frame.type === "login") ch.reply(welcome(frame.cid));
      });
      channels.push(channel);
      return Promise.resolve(channel);
    },
  });
  const seen = new Recorder(client);
  try {
    await client.connect({ name: "alice", password: PASSWORD });
    refusals = 4;
    const back = seen.next((e) => e.type === "status" && e.state === "online");
    channels[0].drop("server closed the connection");
    await back;
    const waits = seen.events.flatMap((e) =>
      e.type === "status" && e.state === "offline" ? [[e.retryInMs, e.reason]] : []
    );
    assert.deepEqual(waits, [
      [5, "server closed the connection"],
      [10, "Connection refused"],
      [20, "Connection refused"],
      [40, "Connection refused"],
      [40, "Connection refused"], // capped
    ]);
    assert.equal(client.state, "online");
  } finally {
    client.close();
  }
});

Deno.test("ReconnectingClient stops for good when the credentials are refused", async () => {
  const channels: FakeChannel[] = [];
  const client = new ReconnectingClient({
    ...fast,
    dial: () => {
      const first = channels.length === 0;
      const channel = new FakeChannel((ch, frame) => {
        if (frame.type !== "login") return;
        if (first) ch.reply(welcome(frame.cid));
        else {
          ch.reply({
            type: "error",
            code: "bad_credentials",
            message: "Wrong name or password.",
            cid: frame.cid,
          });
        }
      });
      channels.push(channel);
      return Promise.resolve(channel);
    },
  });
  const seen = new Recorder(client);
  await client.connect({ name: "alice", password: PASSWORD });
  const closed = seen.status("closed");
  channels[0].drop();
  const waiting = client.send("bob", "never sent").then(() => undefined, (err: Error) => err);
  const end = await closed as Extract<StatusEvent, { state: "closed" }>;
  assert.equal(end.reason, "sign-in refused: Wrong name or password.");
  assert.equal((end.error as { code?: string })?.code, "bad_credentials");
  assert.match(String(await waiting), /Not sent: sign-in refused/);
  assert.equal(await client.closed, "sign-in refused: Wrong name or password.");
  assert.equal(channels.length, 2, "no retry after a refusal");
});

Deno.test("ReconnectingClient shows a message redelivered after a reconnect once", async () => {
  const channels: FakeChannel[] = [];
  const stored: ServerEvent = {
    type: "message",
    id: "m7",
    from: "bob",
    to: "alice",
    text: "stored",
    ts: 0,
    offline: true,
  };
  const acks: unknown[] = [];
  const twoAcks = Promise.withResolvers<void>();
  const client = new ReconnectingClient({
    ...fast,
    dial: () => {
      const channel = new FakeChannel((ch, frame) => {
        if (frame.type === "login") {
          ch.reply({ ...welcome(frame.cid), pending: 1 } as ServerEvent);
          ch.reply(stored); // Redelivered: the first connection died before its ack counted.
        }
        if (frame.type === "ack") {
          acks.push(...frame.ids as string[]);
          if (acks.length === 2) twoAcks.resolve();
        }
      });
      channels.push(channel);
      return Promise.resolve(channel);
    },
  });
  const seen = new Recorder(client);
  try {
    await client.connect({ name: "alice", password: PASSWORD });
    channels[0].drop();
    // Acknowledged again (so the server can drop it), but shown once.
    await twoAcks.promise;
    assert.deepEqual(acks, ["m7", "m7"]);
    assert.equal(seen.events.filter((e) => e.type === "message").length, 1);
  } finally {
    client.close();
  }
});

Deno.test("a send whose reply was lost reaches the recipient once (real server)", async () => {
  const server = await startServer();
  const bob = await server.user("bob");
  let dials = 0;
  const client = new ReconnectingClient({
    initialDelayMs: 10,
    pingIntervalMs: 0,
    dial: async () => {
      const tcp = await TcpChannel.connect({ port: server.port, verifyIdentity: server.pin });
      // The first connection loses the server's `sent` reply and then drops.
      return ++dials === 1 ? new LosesFirstSent(tcp) : tcp;
    },
  });
  try {
    await client.connect({ name: "alice", password: PASSWORD }, { register: true });
    const outcome = await client.send("bob", "exactly once");
    const got = await bob.nextOf("message");
    assert.equal(got.text, "exactly once");
    assert.equal(outcome.duplicate, true, "the resend was recognised by its cid");
    assert.equal(outcome.id, got.id);
    assert.equal(dials, 2);
    await client.send("bob", "and then this");
    assert.equal((await bob.nextOf("message")).text, "and then this", "no second copy");
  } finally {
    await client.quit();
    await server.close();
  }
});

/** Wraps a channel: swallows the first `sent` reply, then drops the connection. */
class LosesFirstSent implements FrameChannel {
  #inner: FrameChannel;
  #lost = false;

  constructor(inner: FrameChannel) {
    this.#inner = inner;
  }

  send(frame: string): void {
    this.#inner.send(frame);
  }

  start(onFrame: (frame: string) => void, onClose: (reason: string) => void): void {
    this.#inner.start((frame) => {
      if (!this.#lost && JSON.parse(frame).type === "sent") {
        this.#lost = true;
        this.#inner.close();
        return;
      }
      onFrame(frame);
    }, onClose);
  }

  close(): void {
    this.#inner.close();
  }
}

Deno.test("ReconnectingClient does not show the user's own message again in a catch-up", async () => {
  const channels: FakeChannel[] = [];
  const own: ServerEvent = {
    type: "message",
    id: "m9",
    seq: 9,
    from: "alice",
    to: "bob",
    text: "sent from here",
    ts: 0,
    catchup: true,
  } as ServerEvent;
  const later: ServerEvent = {
    ...own,
    id: "m10",
    seq: 10,
    from: "bob",
    to: "alice",
  } as ServerEvent;
  const client = new ReconnectingClient({
    ...fast,
    dial: () => {
      const first = channels.length === 0;
      const channel = new FakeChannel((ch, frame) => {
        if (frame.type === "login") {
          ch.reply({ ...welcome(frame.cid), pending: first ? 0 : 2 } as ServerEvent);
          // The server went down before this device's cursor passed the message it sent.
          if (!first) { for (const m of [own, later]) ch.reply(m); }
        }
        if (frame.type === "send") {
          ch.reply({
            type: "sent",
            id: "m9",
            to: "bob",
            status: "delivered",
            recipients: 1,
            seq: 9,
            cid: frame.cid,
          });
        }
      });
      channels.push(channel);
      return Promise.resolve(channel);
    },
  });
  const seen = new Recorder(client);
  try {
    await client.connect({ name: "alice", password: PASSWORD, device: "alice-laptop" });
    await client.send("bob", "sent from here");
    const caughtUp = seen.next((e) => e.type === "message" && e.id === "m10");
    channels[0].drop();
    await caughtUp;
    assert.deepEqual(
      seen.events.flatMap((e) => e.type === "message" ? [e.id] : []),
      ["m10"],
      "only what this client had not shown",
    );
  } finally {
    client.close();
  }
});
