/**
 * Resume tokens (docs/security.md, "Resume tokens"): a JSON client with a device signs in again
 * with the token of its last sign-in instead of the password; bad tokens are refused with
 * `bad_token`, logouts revoke, and the reconnecting client falls back to the password.
 */
import assert from "node:assert/strict";
import { passwordHashCount } from "../lib/accounts/password.ts";
import {
  type FrameChannel,
  ParleyClient,
  type ReconnectEvent,
  ReconnectingClient,
  ServerError,
  TcpChannel,
} from "../lib/client/mod.ts";
import type { IdentityVerifier } from "../lib/crypto/mod.ts";
import { PASSWORD, type TestServer, withServer } from "./helpers.ts";
import { spawnServer } from "./process_helpers.ts";
import { apiLogin, startWebServer } from "./web_helpers.ts";

/** A signed-in device of `name`, and its token. */
async function device(server: TestServer, name: string, id = "laptop") {
  const client = await server.client();
  const welcome = await client.register(name, PASSWORD, undefined, id);
  assert.ok(welcome.resume, "a sign-in with a device gets a token");
  return { client, token: welcome.resume.token };
}

/** The code a resume with `token` is refused with. */
async function refusal(client: ParleyClient, name: string, token: string, id = "laptop") {
  const err = await client.resume(name, token, id).then(
    () => assert.fail("the resume was accepted"),
    (e) => e,
  );
  assert.ok(err instanceof ServerError, String(err));
  return err.code;
}

Deno.test("resume: a wrong, foreign, malformed or expired token is refused with bad_token", async () => {
  await withServer(async (server) => {
    const { client, token } = await device(server, "alice");
    await client.quit();
    const { client: bobDevice, token: bobToken } = await device(server, "bob");
    await bobDevice.quit();
    const probe = await server.client();
    const other = token.startsWith("A") ? `B${token.slice(1)}` : `A${token.slice(1)}`;
    assert.equal(await refusal(probe, "alice", other), "bad_token", "a wrong token");
    assert.equal(await refusal(probe, "alice", bobToken), "bad_token", "bob's token");
    assert.equal(await refusal(probe, "alice", token, "phone"), "bad_token", "another device");
    assert.equal(await refusal(probe, "alice", "short"), "bad_token", "malformed");
    assert.equal(await refusal(probe, "nobody", token), "bad_token", "no such user");
    // Expired: the store says it lapsed a moment ago.
    await server.store.touchResumeToken("alice", "laptop", Date.now() - 1);
    assert.equal(await refusal(probe, "alice", token), "bad_token", "expired");
    // Failures count like wrong passwords: the name is throttled after a few.
    let code = "";
    for (let i = 0; i < 10 && code !== "throttled"; i++) {
      code = await refusal(probe, "alice", other);
    }
    assert.equal(code, "throttled");
    await probe.quit();
  });
});

Deno.test("resume: a storm of resumes from one address is not throttled", async () => {
  await withServer(async (server) => {
    // More than the address's free failures, all in flight at once (one address: loopback).
    const devices: Awaited<ReturnType<typeof device>>[] = [];
    for (let i = 0; i < 40; i++) devices.push(await device(server, `u${i}`));
    await Promise.all(devices.map(({ client }) => client.quit()));
    const probes = await Promise.all(devices.map(() => server.client()));
    const welcomes = await Promise.all(
      probes.map((c, i) => c.resume(`u${i}`, devices[i].token, "laptop")),
    );
    assert.deepEqual(welcomes.map((w) => w.user), devices.map((_, i) => `u${i}`));
    await Promise.all(probes.map((c) => c.quit()));
  });
});

Deno.test("resume: text mode gets no token; a sign-in without a device neither", async () => {
  await withServer(async (server) => {
    const plain = await server.client();
    const welcome = await plain.register("alice", PASSWORD);
    assert.equal(welcome.resume, undefined);
    await plain.quit();
    const text = await server.text();
    await text.write("bob");
    await text.write(PASSWORD);
    const line = await text.waitFor(/Welcome|welcome/);
    assert.doesNotMatch(line, /token/);
    text.close();
  });
});

Deno.test("resume: the logout frame revokes the user's tokens on every device", async () => {
  await withServer(async (server) => {
    const laptop = await device(server, "alice", "laptop");
    const phone = await server.client();
    const phoneToken = (await phone.login("alice", PASSWORD, undefined, "phone")).resume!.token;
    await phone.quit();
    laptop.client.logout();
    assert.equal((await laptop.client.nextOf("bye")).reason, "you signed out");
    const probe = await server.client();
    assert.equal(await refusal(probe, "alice", laptop.token), "bad_token");
    assert.equal(await refusal(probe, "alice", phoneToken, "phone"), "bad_token");
    // The password still signs in, and gives the device a new token.
    const fresh = await probe.login("alice", PASSWORD, undefined, "laptop");
    assert.notEqual(fresh.resume?.token, laptop.token);
    await probe.quit();
  });
});

Deno.test("resume: the browser's logout revokes the user's tokens", async () => {
  const server = await startWebServer();
  try {
    const { client, token } = await device(server, "alice");
    await client.quit();
    const { cookie } = await apiLogin(server.url, { name: "alice", password: PASSWORD });
    const out = await fetch(`${server.url}/api/logout`, {
      method: "POST",
      headers: { cookie: cookie!, origin: server.url },
    });
    assert.equal(out.status, 200);
    await out.body?.cancel();
    const probe = await server.client();
    assert.equal(await refusal(probe, "alice", token), "bad_token");
    await probe.quit();
  } finally {
    await server.close();
  }
});

/** Dials the server, keeping every channel and every frame the client sent. */
function recordingDial(port: () => number, pin: () => IdentityVerifier) {
  const sent: Array<Record<string, unknown>> = [];
  const channels: FrameChannel[] = [];
  const dial = async (): Promise<FrameChannel> => {
    const inner = await TcpChannel.connect({ port: port(), verifyIdentity: pin() });
    const channel: FrameChannel = {
      send: (frame) => {
        sent.push(JSON.parse(frame));
        inner.send(frame);
      },
      start: (onFrame, onClose) => inner.start(onFrame, onClose),
      close: () => inner.close(),
    };
    channels.push(channel);
    return channel;
  };
  return { dial, sent, channels };
}

function statusOf(client: ReconnectingClient, state: string): Promise<ReconnectEvent> {
  return new Promise((resolve) => {
    const off = client.on((e) => {
      if (e.type === "status" && e.state === state) {
        off();
        resolve(e);
      }
    });
  });
}

Deno.test("ReconnectingClient resumes with its token, and asks for the password when it is refused", async () => {
  await withServer(async (server) => {
    const { dial, sent, channels } = recordingDial(() => server.port, () => server.pin);
    let asked = 0;
    const client = new ReconnectingClient({
      dial,
      initialDelayMs: 5,
      random: () => 0,
      pingIntervalMs: 0,
      askPassword: () => {
        asked++;
        return Promise.resolve(PASSWORD);
      },
    });
    try {
      await client.connect({ name: "alice", password: PASSWORD, device: "laptop" }, {
        register: true,
      });
      const hashes = passwordHashCount();
      let online = statusOf(client, "online");
      channels.at(-1)!.close();
      await online;
      const signIns = () =>
        sent.map((f) => String(f.type)).filter((t) => /^(register|login|resume)$/.test(t));
      assert.deepEqual(signIns(), ["register", "resume"], "the reconnect resumed");
      assert.equal(passwordHashCount(), hashes, "no password hash");
      assert.equal(asked, 0);

      // Revoked meanwhile (a logout elsewhere): the token is refused, the password asked for.
      await server.store.deleteResumeTokens("alice");
      online = statusOf(client, "online");
      channels.at(-1)!.close();
      await online;
      assert.equal(asked, 1);
      assert.deepEqual(signIns(), ["register", "resume", "resume", "login"]);
      assert.ok(client.welcome?.resume, "and a new token came with that welcome");
    } finally {
      await client.quit();
    }
  });
});

Deno.test("ReconnectingClient without askPassword stops when its token is refused", async () => {
  await withServer(async (server) => {
    const { dial, channels } = recordingDial(() => server.port, () => server.pin);
    const client = new ReconnectingClient({
      dial,
      initialDelayMs: 5,
      random: () => 0,
      pingIntervalMs: 0,
    });
    await client.connect({ name: "alice", password: PASSWORD, device: "laptop" }, {
      register: true,
    });
    await server.store.deleteResumeTokens("alice");
    channels.at(-1)!.close();
    const reason = await client.closed;
    assert.match(reason, /sign-in refused: .*sign in with the password/);
  });
});

Deno.test("a reconnecting client resumes after a real server restart (SIGTERM) without its password", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-resume-" });
  let server = await spawnServer(dataDir);
  const { dial, sent } = recordingDial(() => server.tcpPort, () => server.pin);
  const client = new ReconnectingClient({
    dial,
    initialDelayMs: 50,
    maxDelayMs: 200,
    pingIntervalMs: 0,
  });
  const messages: string[] = [];
  client.on((e) => e.type === "message" && messages.push(e.text));
  let bob: ParleyClient | undefined;
  try {
    await client.connect({ name: "alice", password: PASSWORD, device: "laptop" }, {
      register: true,
    });
    const offline = statusOf(client, "offline");
    assert.equal((await server.stop("SIGTERM")).code, 0);
    await offline;
    server = await spawnServer(dataDir);
    const online = statusOf(client, "online");
    // Sent while alice is still away: her catch-up brings it.
    bob = new ParleyClient(
      await TcpChannel.connect({ port: server.tcpPort, verifyIdentity: server.pin }),
    );
    await bob.register("bob", PASSWORD);
    await bob.send("alice", "while you were away");
    await online;
    const afterFirst = sent.slice(sent.findIndex((f) => f.type === "register") + 1);
    assert.ok(afterFirst.some((f) => f.type === "resume"), "the reconnect resumed");
    assert.ok(
      !afterFirst.some((f) => JSON.stringify(f).includes(PASSWORD)),
      "the password never went again",
    );
    const deadline = Date.now() + 10_000;
    while (!messages.includes("while you were away") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(messages.includes("while you were away"), "the message came");
  } finally {
    await client.quit();
    await bob?.quit();
    await server.stop("SIGTERM");
    await Deno.remove(dataDir, { recursive: true });
  }
});
