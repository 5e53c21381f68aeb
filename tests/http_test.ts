/**
 * The HTTP listener without a browser: headers, assets, the login API and its cookie, logout,
 * the WebSocket bridge's Origin check and cookie sign-in, /healthz.
 */
import assert from "node:assert/strict";
import { clientHandshake, type SecureSession } from "../lib/crypto/mod.ts";
import type { ServerEvent } from "../lib/protocol/types.ts";
import { CONTENT_SECURITY_POLICY } from "../server/http.ts";
import { makeCert } from "./certs.ts";
import { PASSWORD } from "./helpers.ts";
import { apiLogin, startWebServer, upgradeStatus, type WebServer } from "./web_helpers.ts";

async function withServer(
  fn: (server: WebServer) => Promise<void>,
  options: Parameters<typeof startWebServer>[0] = {},
) {
  const server = await startWebServer(options);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/**
 * Opens a WebSocket with extra headers (Deno's WebSocket takes them), runs the handshake pinned
 * to the server's identity, and collects the events it opens. `send` seals a frame;
 * `ws.send` sends a message as it is. `beforeHello` runs once the socket is open, before the
 * client_hello goes.
 */
async function openSocket(
  server: WebServer,
  headers: Record<string, string>,
  beforeHello?: () => Promise<void>,
  query = "",
) {
  // The handshake keys first: an await between creating the socket and setting its handlers
  // could let "open" fire unheard.
  const hs = await clientHandshake({ verifyIdentity: server.pin });
  const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/ws${query}`, { headers } as never);
  const events: ServerEvent[] = [];
  const waiters: Array<() => void> = [];
  const established = Promise.withResolvers<SecureSession>();
  let finishing: Promise<SecureSession> | undefined;
  let inbound = Promise.resolve();
  ws.onmessage = (e) => {
    if (!finishing) {
      finishing = hs.finish(e.data);
      finishing.then(established.resolve, established.reject);
      return;
    }
    const data = e.data;
    const session = finishing;
    inbound = inbound.then(async () => {
      const frames = await (await session).openFrames(data);
      events.push(...frames.map((f) => JSON.parse(f)));
      for (const w of waiters.splice(0)) w();
    }).catch(() => {});
  };
  const closed = new Promise<void>((resolve) => ws.onclose = () => resolve());
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("websocket failed"));
  });
  await beforeHello?.();
  ws.send(hs.hello);
  const secure = await established.promise;
  return {
    ws,
    closed,
    /** Seals `frame` and sends it. */
    async send(frame: string | Uint8Array): Promise<void> {
      ws.send(await secure.seal(frame));
    },
    async next(type: string, timeoutMs = 5000): Promise<ServerEvent> {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const i = events.findIndex((e) => e.type === type);
        if (i !== -1) return events.splice(i, 1)[0];
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no '${type}' event; got ${JSON.stringify(events)}`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
      }
    },
    async close() {
      ws.close();
      await closed;
    },
  };
}

Deno.test("http: the page has a strict CSP and no inline script or style", async () => {
  await withServer(async (server) => {
    const res = await fetch(server.url);
    const html = await res.text();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(res.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    for (const tag of html.matchAll(/<script\b[^>]*>/g)) assert.match(tag[0], /\bsrc="\/static\//);
    assert.doesNotMatch(html, /<style\b|\sstyle="|\son[a-z]+="/i);
  });
});

Deno.test("http: assets have their content types and cache headers", async () => {
  await withServer(async (server) => {
    const page = await fetch(server.url);
    assert.match(page.headers.get("cache-control")!, /no-cache/);
    const html = await page.text();
    const paths = {
      js: /src="(\/static\/app\.[0-9a-f]+\.js)"/.exec(html)![1],
      css: /href="(\/static\/styles\.[0-9a-f]+\.css)"/.exec(html)![1],
      svg: /href="(\/static\/icon\.[0-9a-f]+\.svg)"/.exec(html)![1],
    };
    const types = {
      js: "text/javascript; charset=utf-8",
      css: "text/css; charset=utf-8",
      svg: "image/svg+xml",
    };
    for (const [kind, path] of Object.entries(paths)) {
      const res = await fetch(server.url + path);
      const body = await res.text();
      assert.equal(res.status, 200, path);
      assert.ok(body.length > 100, path);
      assert.equal(res.headers.get("content-type"), types[kind as keyof typeof types]);
      assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
      const etag = res.headers.get("etag")!;
      const again = await fetch(server.url + path, { headers: { "if-none-match": etag } });
      await again.body?.cancel();
      assert.equal(again.status, 304);
    }
    const missing = await fetch(`${server.url}/static/app.0000.js`);
    await missing.body?.cancel();
    assert.equal(missing.status, 404);
    const wrongMethod = await fetch(`${server.url}/api/login`);
    await wrongMethod.body?.cancel();
    assert.equal(wrongMethod.status, 405);
  });
});

Deno.test("http: /healthz answers while serving, with the translator's state", async () => {
  await withServer(async (server) => {
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, "ok");
    assert.equal(body.store.ok, true);
    assert.deepEqual(body.translation, { provider: "off", state: "off" });
  });
});

Deno.test("http: /healthz says 503 when the store does not answer", async () => {
  const server = await startWebServer();
  try {
    await server.store.close();
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.status, "unavailable");
    assert.equal(body.store.ok, false);
  } finally {
    await server.close();
  }
});

Deno.test("http: /metrics speaks the Prometheus text format", async () => {
  await withServer(async (server) => {
    const alice = await server.user("alice");
    await server.user("bob");
    await alice.send("bob", "hi");
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# HELP parley_connections /m);
    assert.match(text, /^# TYPE parley_connections gauge$/m);
    assert.match(text, /^parley_connections\{transport="tcp",dialect="json"\} 2$/m);
    assert.match(text, /^parley_sign_ins_total 2$/m);
    assert.match(text, /^parley_messages_total 1$/m);
    assert.match(text, /^parley_translation_state\{provider="off",state="off"\} 1$/m);
    const rss = Number(text.match(/^process_resident_memory_bytes (\d+)$/m)?.[1]);
    assert.ok(rss > 1 << 20, `resident memory ${rss}`);
    assert.match(text, /^parley_heap_bytes\{kind="used"\} \d+$/m);
    assert.match(text, /^parley_heap_space_bytes\{space="old_space",kind="physical"\} \d+$/m);
    // Every sample line is `name{labels} value`; every metric has HELP and TYPE.
    for (const line of text.trimEnd().split("\n")) {
      assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [-+\d.eInfNa]+)$/, line);
    }
  });
});

Deno.test("http: login sets an HttpOnly SameSite=Strict cookie, without Secure over plain HTTP", async () => {
  await withServer(async (server) => {
    const { res, body } = await apiLogin(server.url, {
      name: "alice",
      password: PASSWORD,
      lang: "es",
      register: true,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(body, { user: "alice", lang: "es", created: true });
    const cookie = res.headers.get("set-cookie")!;
    assert.match(cookie, /^parley_session=[A-Za-z0-9_-]{43};/);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Strict/);
    assert.match(cookie, /; Path=\//);
    assert.doesNotMatch(cookie, /Secure/);
    assert.equal(res.headers.get("cache-control"), "no-store");
  });
});

Deno.test("http: login errors say what is wrong", async () => {
  await withServer(async (server) => {
    await server.user("bob");
    const taken = await apiLogin(server.url, { name: "Bob", password: PASSWORD, register: true });
    assert.equal(taken.res.status, 409);
    assert.equal((taken.body.error as { code: string }).code, "name_taken");
    const wrong = await apiLogin(server.url, { name: "bob", password: "not the password" });
    assert.equal(wrong.res.status, 401);
    assert.equal((wrong.body.error as { code: string }).code, "bad_credentials");
    assert.equal(wrong.cookie, undefined);
    const unknown = await apiLogin(server.url, { name: "nobody", password: PASSWORD });
    assert.equal(unknown.res.status, 401);
    assert.equal((unknown.body.error as { code: string }).code, "no_such_user");
    const short = await apiLogin(server.url, { name: "carol", password: "short", register: true });
    assert.equal(short.res.status, 400);
    const badName = await apiLogin(server.url, { name: "all", password: PASSWORD, register: true });
    assert.equal((badName.body.error as { code: string }).code, "bad_name");
    const notJson = await fetch(`${server.url}/api/login`, { method: "POST", body: "name=bob" });
    await notJson.body?.cancel();
    assert.equal(notJson.status, 415);
  });
});

Deno.test("http: repeated failed logins are throttled with a retry time", async () => {
  await withServer(async (server) => {
    await server.user("bob");
    let last;
    for (let i = 0; i < 8; i++) {
      last = await apiLogin(server.url, { name: "bob", password: "wrong password" });
      if (last.res.status === 429) break;
    }
    assert.equal(last!.res.status, 429);
    const error = last!.body.error as { code: string; retryAfter: number };
    assert.equal(error.code, "throttled");
    assert.ok(error.retryAfter >= 1);
    assert.equal(last!.res.headers.get("retry-after"), String(error.retryAfter));
  }, { limits: { ratePerSec: 1000, rateBurst: 1000 } });
});

Deno.test("http: a foreign Origin cannot sign in or open the WebSocket", async () => {
  await withServer(async (server) => {
    const port = server.httpPort;
    assert.equal(await upgradeStatus(port, { Origin: "http://evil.example" }), 403);
    assert.equal(await upgradeStatus(port, { Origin: "http://127.0.0.1:1" }), 403);
    assert.equal(await upgradeStatus(port, { Origin: `https://127.0.0.1:${port}` }), 403);
    assert.equal(await upgradeStatus(port, { Origin: `http://127.0.0.1:${port}` }), 101);
    const login = await apiLogin(
      server.url,
      { name: "mallory", password: PASSWORD, register: true },
      { origin: "http://evil.example" },
    );
    assert.equal(login.res.status, 403);
  });
});

Deno.test("http: the session cookie signs the WebSocket in; logout ends it on the server", async () => {
  await withServer(async (server) => {
    const bob = await server.user("bob");
    const { cookie } = await apiLogin(server.url, {
      name: "alice",
      password: PASSWORD,
      register: true,
    });
    const origin = server.url;
    const sock = await openSocket(server, { cookie: cookie!, origin });
    const welcome = await sock.next("welcome");
    assert.equal(welcome.type === "welcome" && welcome.user, "alice");
    await bob.nextOf("presence", (p) => p.user === "alice" && p.state === "online");
    await sock.send(
      JSON.stringify({ type: "send", to: "bob", text: "over the websocket", cid: "w1" }),
    );
    assert.equal((await sock.next("sent")).type, "sent");
    assert.equal((await bob.nextOf("message")).text, "over the websocket");

    const session = await fetch(`${server.url}/api/session`, { headers: { cookie: cookie! } });
    assert.deepEqual(await session.json(), { user: "alice", lang: "en" });

    const out = await fetch(`${server.url}/api/logout`, {
      method: "POST",
      headers: { cookie: cookie!, origin },
    });
    assert.equal(out.status, 200);
    assert.match(out.headers.get("set-cookie")!, /^parley_session=; .*Max-Age=0/);
    await out.body?.cancel();
    // The open socket is closed with a goodbye, and the cookie no longer signs anybody in.
    const bye = await sock.next("bye");
    assert.equal(bye.type === "bye" && bye.reason, "signed out");
    await sock.closed;
    await bob.nextOf("presence", (p) => p.user === "alice" && p.state === "offline");
    const after = await fetch(`${server.url}/api/session`, { headers: { cookie: cookie! } });
    await after.body?.cancel();
    assert.equal(after.status, 401);
    const again = await openSocket(server, { cookie: cookie!, origin });
    await again.next("hello");
    await again.send(JSON.stringify({ type: "who" }));
    const err = await again.next("error");
    assert.equal(err.type === "error" && err.code, "not_logged_in");
    await again.close();
  });
});

Deno.test("http: a cookie-signed WebSocket names its device in the URL and catches up from its cursor", async () => {
  await withServer(async (server) => {
    const bob = await server.user("bob");
    const { cookie } = await apiLogin(server.url, {
      name: "alice",
      password: PASSWORD,
      register: true,
    });
    const origin = server.url;
    const tab = await openSocket(server, { cookie: cookie!, origin }, undefined, "?device=tab-1");
    const first = await tab.next("welcome");
    assert.ok(first.type === "welcome" && first.device === "tab-1" && first.cursor === 0);
    const synced = await tab.next("synced");
    assert.ok(synced.type === "synced" && !synced.more);
    await tab.close();
    const sent = await bob.send("alice", "while your tab was closed");
    const back = await openSocket(server, { cookie: cookie!, origin }, undefined, "?device=tab-1");
    const welcome = await back.next("welcome");
    assert.ok(welcome.type === "welcome" && welcome.pending === 1);
    const caught = await back.next("message");
    assert.ok(caught.type === "message" && caught.catchup && caught.id === sent.id);
    await back.close();
    // A malformed device id is refused before the upgrade.
    assert.equal(await upgradeStatus(server.httpPort, { origin }, "/ws?device=has%20space"), 400);
  });
});

Deno.test("http: WebSocket frames obey the TCP limits", async () => {
  await withServer(async (server) => {
    // Inside the session, a frame that is not a command gets an error; the connection stays.
    const sock = await openSocket(server, { origin: server.url });
    await sock.next("hello");
    await sock.send("not json");
    const bad = await sock.next("error");
    assert.equal(bad.type === "error" && bad.code, "bad_frame");
    await sock.send(JSON.stringify({ type: "ping", cid: "p" }));
    assert.equal((await sock.next("pong")).type, "pong");
    await sock.close();

    // A sealed frame over 8192 bytes of plaintext closes the connection: it cannot be skipped.
    const long = await openSocket(server, { origin: server.url });
    await long.next("hello");
    await long.send("x".repeat(8193));
    const tooLong = await long.next("error");
    assert.equal(tooLong.type === "error" && tooLong.code, "malformed_frame");
    assert.match(tooLong.type === "error" ? tooLong.message : "", /longer than 10944/);
    await long.next("bye");
    await long.closed;

    // Authentic bytes that are not UTF-8 close it too.
    const utf = await openSocket(server, { origin: server.url });
    await utf.next("hello");
    await utf.send(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    const badUtf8 = await utf.next("error");
    assert.equal(badUtf8.type === "error" && badUtf8.code, "malformed_frame");
    assert.match(badUtf8.type === "error" ? badUtf8.message : "", /UTF-8/);
    await utf.next("bye");
    await utf.closed;

    // A binary message, or plaintext JSON after the handshake, closes it as malformed_frame.
    const plain = await openSocket(server, { origin: server.url });
    await plain.next("hello");
    plain.ws.send(JSON.stringify({ type: "ping" }));
    const refused = await plain.next("error");
    assert.equal(refused.type === "error" && refused.code, "malformed_frame");
    await plain.closed;
  });
});

Deno.test("http: a logout while the WebSocket's handshake runs leaves it signed out", async () => {
  await withServer(async (server) => {
    const { cookie } = await apiLogin(server.url, {
      name: "alice",
      password: PASSWORD,
      register: true,
    });
    const origin = server.url;
    // The upgrade carried a valid cookie; the login ends before the client_hello comes.
    const sock = await openSocket(server, { cookie: cookie!, origin }, async () => {
      const out = await fetch(`${server.url}/api/logout`, {
        method: "POST",
        headers: { cookie: cookie!, origin },
      });
      await out.body?.cancel();
      assert.equal(out.status, 200);
    });
    await sock.next("hello");
    await sock.send(JSON.stringify({ type: "who" }));
    const err = await sock.next("error");
    assert.equal(err.type === "error" && err.code, "not_logged_in");
    assert.equal(server.router.online.size, 0, "nobody is online as alice");
    await sock.close();
  });
});

const hasOpenssl = (() => {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "http: under TLS the session cookie is Secure",
  ignore: !hasOpenssl,
  async fn() {
    const { dir, cert, key } = await makeCert();
    const server = await startWebServer({ tls: { cert, key } });
    const client = Deno.createHttpClient({ caCerts: [cert] });
    try {
      assert.match(server.url, /^https:/);
      const res = await fetch(`${server.url}/api/login`, {
        method: "POST",
        client,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "alice", password: PASSWORD, register: true }),
      } as RequestInit); // `client` is Deno's; the DOM typing of fetch does not know it.
      await res.body?.cancel();
      assert.equal(res.status, 200);
      assert.match(res.headers.get("set-cookie")!, /; HttpOnly; SameSite=Strict; Secure$/);
    } finally {
      client.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
