/**
 * TLS on both listeners (--tls-cert/--tls-key, docs/security.md §10) with a certificate made at
 * test time by the openssl CLI, and the text-mode plaintext policy (§11) through the real TCP
 * path: with an injected peer address, and (as root, where `ip netns` works) from a real
 * non-loopback address on a veth pair that exists only for this test.
 */
import assert from "node:assert/strict";
import { PASSWORD, startServer, TextSocket } from "./helpers.ts";
import { runServerToExit, spawnServer } from "./process_helpers.ts";
import { startWebServer } from "./web_helpers.ts";
import { type Cert, type CertKind, makeCert } from "./certs.ts";
import { TEXT_PASSWORD } from "./raw.ts";

let certOnce: Promise<Cert> | undefined;
/** One certificate for the whole file (making one costs a process start). */
const testCert = () => certOnce ??= makeCert();

Deno.test("tls: a text-mode user over TLS chats with a JSON client over TLS", async () => {
  const c = await testCert();
  const server = await startServer({ tls: { cert: c.cert, key: c.key } });
  try {
    assert.equal(server.tcp.tls, true);
    const json = await server.user("jules");
    const text = await server.text();
    await text.waitFor("Name:");
    await text.write(`/register tina ${TEXT_PASSWORD}`);
    await text.waitFor("Welcome, tina");
    assert.deepEqual(await json.nextOf("presence"), {
      type: "presence",
      user: "tina",
      state: "online",
    });
    await text.write("@jules over TLS");
    const m = await json.nextOf("message");
    assert.equal(m.from, "tina");
    assert.equal(m.text, "over TLS");
    await json.send("tina", "hello back");
    await text.waitFor(/\] jules -> you: hello back$/);
  } finally {
    await server.close();
  }
});

Deno.test("tls: a plaintext client on the TLS port gets nowhere, and the server carries on", async () => {
  const c = await testCert();
  const server = await startServer({ tls: { cert: c.cert, key: c.key } });
  try {
    const plain = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await plain.write(new TextEncoder().encode("/register eve secret-pass\n"));
    const buf = new Uint8Array(4096);
    const n = await plain.read(buf).catch(() => null);
    // Whatever comes back (a TLS alert, or nothing) is no Parley text.
    if (n) assert.doesNotMatch(new TextDecoder().decode(buf.subarray(0, n)), /Welcome|Name:/);
    plain.close();
    const text = await server.text();
    await text.waitFor("Name:");
  } finally {
    await server.close();
  }
});

Deno.test("tls: HTTPS page and login over TLS; the session cookie is Secure; wss upgrades", async () => {
  const c = await testCert();
  const server = await startWebServer({ tls: { cert: c.cert, key: c.key } });
  const client = Deno.createHttpClient({ caCerts: [c.cert] });
  // Deno's fetch takes `client`; the DOM typings do not know it.
  const trusting = { client } as RequestInit;
  try {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.http.url, /^https:\/\//);
    const page = await fetch(`${server.url}/`, trusting);
    assert.equal(page.status, 200);
    await page.body?.cancel();

    const res = await fetch(`${server.url}/api/login`, {
      ...trusting,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "wendy", password: PASSWORD, register: true }),
    });
    await res.body?.cancel();
    assert.equal(res.status, 200);
    const setCookie = res.headers.get("set-cookie") ?? "";
    assert.match(setCookie, /^parley_session=/);
    assert.match(setCookie, /;\s*Secure(;|$)/);
    assert.match(setCookie, /HttpOnly/);

    // The WebSocket over TLS: a raw upgrade from the page's own origin is switched (101).
    const port = server.httpPort;
    const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [c.cert] });
    try {
      const request = [
        "GET /ws HTTP/1.1",
        `Host: 127.0.0.1:${port}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        `Origin: https://127.0.0.1:${port}`,
        "",
        "",
      ].join("\r\n");
      await conn.write(new TextEncoder().encode(request));
      const buf = new Uint8Array(2048);
      const n = await conn.read(buf);
      const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      assert.match(head, /^HTTP\/1\.1 101 /);
    } finally {
      conn.close();
    }
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("tls: main.ts with --tls-cert/--tls-key prints https and serves text mode over TLS", async () => {
  const c = await testCert();
  const dataDir = await Deno.makeTempDir({ prefix: "parley-tls-main-" });
  const server = await spawnServer(dataDir, ["--tls-cert", c.certPath, "--tls-key", c.keyPath]);
  try {
    const text = await TextSocket.connect(server.tcpPort, { caCerts: [c.cert] });
    await text.waitFor("Name:");
    await text.write(`/register maud ${TEXT_PASSWORD}`);
    await text.waitFor("Welcome, maud");
    await text.closeAndWait();
    assert.match(server.output(), /tcp 127\.0\.0\.1:\d+ \(TLS/);
    if (/ http/.test(server.output())) {
      assert.match(server.output(), /https:\/\/127\.0\.0\.1:\d+\//);
    }
  } finally {
    await server.stop("SIGTERM");
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("tls: the openssl s_client line from docs/security.md reaches text mode", async () => {
  const c = await testCert();
  const server = await startServer({ tls: { cert: c.cert, key: c.key } });
  try {
    const out = await talk(
      "openssl",
      [
        "s_client",
        "-quiet",
        "-connect",
        `127.0.0.1:${server.port}`,
        "-CAfile",
        c.certPath,
        "-verify_return_error",
      ],
      `/register otto ${TEXT_PASSWORD}\n`,
      "Welcome, otto",
    );
    assert.match(out, /Name:/);
  } finally {
    await server.close();
  }
});

Deno.test({
  name: "tls: the socat line from docs/security.md reaches text mode",
  ignore: !(await has("socat")),
  fn: async () => {
    const c = await testCert();
    const server = await startServer({ tls: { cert: c.cert, key: c.key } });
    try {
      const out = await talk(
        "socat",
        [
          "-",
          `OPENSSL:127.0.0.1:${server.port},cafile=${c.certPath}`,
        ],
        `/register sofia ${TEXT_PASSWORD}\n`,
        "Welcome, sofia",
      );
      assert.match(out, /Name:/);
    } finally {
      await server.close();
    }
  },
});

Deno.test("tls: a bad TLS configuration stops main.ts with a clear message", async () => {
  const c = await testCert();
  const dir = await Deno.makeTempDir({ prefix: "parley-tls-bad-" });
  try {
    const other = await makeCert();
    await Deno.writeTextFile(`${dir}/junk.pem`, "not a certificate\n");
    const cases: Array<[string[], number, RegExp]> = [
      [["--tls-cert", c.certPath], 2, /--tls-cert needs --tls-key too/],
      [["--tls-key", c.keyPath], 2, /--tls-key needs --tls-cert too/],
      [
        ["--tls-cert", `${dir}/missing.pem`, "--tls-key", c.keyPath],
        1,
        /cannot read the TLS certificate '.*missing\.pem'/,
      ],
      [
        ["--tls-cert", c.certPath, "--tls-key", `${dir}/missing.pem`],
        1,
        /cannot read the TLS private key '.*missing\.pem'/,
      ],
      [
        ["--tls-cert", `${dir}/junk.pem`, "--tls-key", c.keyPath],
        1,
        /holds no PEM certificate/,
      ],
      [["--tls-cert", c.certPath, "--tls-key", c.certPath], 1, /holds no PEM private key/],
      [
        ["--tls-cert", c.certPath, "--tls-key", other.keyPath],
        1,
        /TLS certificate '.*' and key '.*' were refused/,
      ],
    ];
    for (const [args, code, message] of cases) {
      const out = await runServerToExit(`${dir}/data`, args);
      assert.equal(out.code, code, `${args.join(" ")}: ${out.output}`);
      assert.match(out.output, message, args.join(" "));
    }
    await Deno.remove(other.dir, { recursive: true });
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("plaintext: text mode from a non-loopback peer is refused in one line; JSON is not", async () => {
  const server = await startServer({ policyPeer: () => "192.0.2.7" });
  try {
    // A quiet nc user: refused before any greeting.
    const quiet = await server.text();
    const line = await quiet.waitFor(/^!/);
    assert.match(line, /^! Text mode is not encrypted/);
    assert.match(line, /deno task client/);
    assert.match(line, /openssl s_client/);
    await quiet.waitClosed();
    assert.deepEqual(quiet.lines, []);

    // One who types first: the same one line, then the server hangs up; nothing is processed.
    const eager = await server.text();
    await eager.write(`/register mallory ${TEXT_PASSWORD}`);
    await eager.waitFor(/^! Text mode is not encrypted/);
    await eager.waitClosed();
    assert.deepEqual(eager.lines, []);
    assert.equal(await server.store.getUser("mallory"), undefined);

    // JSON mode has its own encryption and is unaffected.
    const json = await server.user("jon");
    assert.equal(json.welcome?.user, "jon");
  } finally {
    await server.close();
  }
});

Deno.test("plaintext: --allow-plaintext (or TLS) lets a non-loopback peer use text mode", async () => {
  const allowed = await startServer({ policyPeer: () => "192.0.2.7", allowPlaintext: true });
  try {
    const t = await allowed.text();
    await t.waitFor("Name:");
    await t.write(`/register alma ${TEXT_PASSWORD}`);
    await t.waitFor("Welcome, alma");
  } finally {
    await allowed.close();
  }
  const c = await testCert();
  const tls = await startServer({
    policyPeer: () => "192.0.2.7",
    tls: { cert: c.cert, key: c.key },
  });
  try {
    const t = await tls.text();
    await t.waitFor("Name:");
  } finally {
    await tls.close();
  }
});

// A real non-loopback peer: a network namespace joined to this one by a veth pair on a private
// /30 that exists only for this test. Nothing is sent anywhere else. Needs root and `ip netns`.
const NETNS = {
  name: `parley-test-${Deno.pid}`,
  hostIf: `pvh${Deno.pid % 1_000_000}`,
  nsIf: `pvn${Deno.pid % 1_000_000}`,
  hostIp: "10.213.47.1",
  nsIp: "10.213.47.2",
  subnet: "10.213.47.0/30",
};

async function ip(...args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const out = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { ok: out.success, out: text };
  } catch (err) {
    return { ok: false, out: (err as Error).message };
  }
}

/** Sets up the namespace pair; false (after cleaning up) when this machine does not allow it. */
async function netnsUp(): Promise<boolean> {
  if (Deno.build.os !== "linux") return false;
  // Only a subnet nobody here uses.
  const routes = await ip("route", "show", "to", "match", NETNS.hostIp);
  if (!routes.ok || routes.out.split("\n").some((l) => l.trim() && !l.startsWith("default"))) {
    return false;
  }
  const { name, hostIf, nsIf } = NETNS;
  const steps = [
    ["netns", "add", name],
    ["link", "add", hostIf, "type", "veth", "peer", "name", nsIf],
    ["link", "set", nsIf, "netns", name],
    ["addr", "add", `${NETNS.hostIp}/30`, "dev", hostIf],
    ["link", "set", hostIf, "up"],
    ["netns", "exec", name, "ip", "addr", "add", `${NETNS.nsIp}/30`, "dev", nsIf],
    ["netns", "exec", name, "ip", "link", "set", nsIf, "up"],
    ["netns", "exec", name, "ip", "link", "set", "lo", "up"],
  ];
  for (const step of steps) {
    if (!(await ip(...step)).ok) {
      await netnsDown();
      return false;
    }
  }
  return true;
}

async function netnsDown() {
  await ip("netns", "del", NETNS.name);
  await ip("link", "del", NETNS.hostIf); // gone with its peer already, normally
}

/**
 * Inside the namespace: connects to host:port, sends `send` (if any), and prints what arrives
 * until the server hangs up, the output shows `until`, or 3 s pass.
 */
async function fromNamespace(port: number, send: string, until = "\0"): Promise<string> {
  const code = `
    const conn = await Deno.connect({ hostname: ${JSON.stringify(NETNS.hostIp)}, port: ${port} });
    const send = ${JSON.stringify(send)};
    if (send) await conn.write(new TextEncoder().encode(send));
    const buf = new Uint8Array(65536);
    let out = "";
    const timer = setTimeout(() => { console.log(out); Deno.exit(0); }, 3000);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        out += new TextDecoder().decode(buf.subarray(0, n));
        if (out.includes(${JSON.stringify(until)})) { console.log(out); Deno.exit(0); }
      }
    } catch (err) { out += "\\n<error: " + err.message + ">"; }
    clearTimeout(timer);
    console.log(out + "\\n<closed>");
  `;
  const out = await new Deno.Command("ip", {
    args: ["netns", "exec", NETNS.name, Deno.execPath(), "eval", code],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
}

Deno.test("plaintext: from a real non-loopback address (network namespace), refused unless allowed", async (t) => {
  if (!(await netnsUp())) {
    console.log("  (skipped: `ip netns` is not permitted here)");
    return;
  }
  try {
    for (const allow of [false, true]) {
      const dataDir = await Deno.makeTempDir({ prefix: "parley-netns-" });
      const server = await spawnServer(dataDir, [
        "--host",
        NETNS.hostIp,
        ...(allow ? ["--allow-plaintext"] : []),
      ]);
      try {
        await t.step(allow ? "with --allow-plaintext" : "without --allow-plaintext", async () => {
          const quiet = await fromNamespace(server.tcpPort, "", "Name:");
          const eager = await fromNamespace(
            server.tcpPort,
            `/register nina ${TEXT_PASSWORD}\n`,
            "Welcome, nina",
          );
          if (allow) {
            assert.match(quiet, /Name:/);
            assert.match(eager, /Welcome, nina/);
          } else {
            for (const out of [quiet, eager]) {
              const lines = out.split("\n").filter((l) => l && !l.startsWith("<"));
              assert.equal(lines.length, 1, out);
              assert.match(lines[0], /^! Text mode is not encrypted/);
              assert.match(lines[0], new RegExp(`--host ${NETNS.hostIp.replaceAll(".", "\\.")}`));
              assert.match(out, /<closed>/);
            }
            assert.match(server.output(), /text mode \(plaintext\) is limited to local users/);
          }
        });
      } finally {
        await server.stop("SIGTERM");
        await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      }
    }
  } finally {
    await netnsDown();
  }
});

/** True when `cmd` runs here. */
async function has(cmd: string): Promise<boolean> {
  try {
    await new Deno.Command(cmd, { args: ["-V"], stdout: "null", stderr: "null" }).output();
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs a command, writes `input` to its stdin, and waits (5 s at most) until its output shows
 * `until`; then closes stdin, stops it and returns what it printed.
 */
async function talk(cmd: string, args: string[], input: string, until: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  let out = "";
  const seen = Promise.withResolvers<void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      out += decoder.decode(bytes, { stream: true });
      if (out.includes(until)) seen.resolve();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      seen.promise,
      new Promise((_, reject) =>
        timer = setTimeout(() => reject(new Error(`no '${until}' from ${cmd}:\n${out}`)), 5000)
      ),
    ]);
  } finally {
    clearTimeout(timer);
    await writer.close().catch(() => {});
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
    await pumps;
  }
  return out;
}

/** The terminal client (`client.ts`) on `port` with `flags`, stdin, stdout and stderr piped. */
function spawnClient(port: number, flags: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../client.ts", import.meta.url).pathname,
      "--port",
      String(port),
      ...flags,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

Deno.test("tls: the terminal client connects with --ca-cert and chats", async () => {
  const c = await testCert();
  const server = await startServer({ tls: { cert: c.cert, key: c.key } });
  const known = `${c.dir}/known_servers_client`;
  const child = spawnClient(server.port, [
    "--ca-cert",
    c.certPath,
    "--known-servers",
    known,
    "--register",
  ]);
  const writer = child.stdin.getWriter();
  try {
    const json = await server.user("jules");
    await writer.write(
      new TextEncoder().encode(`terry\n${TEXT_PASSWORD}\n\n@jules typed over TLS\n`),
    );
    const m = await json.nextOf("message", (m) => m.from === "terry", 15_000);
    assert.equal(m.text, "typed over TLS");
  } finally {
    await writer.close().catch(() => {});
    const out = await child.output().catch(() => undefined);
    await server.close();
    if (out && !out.success) console.error(new TextDecoder().decode(out.stderr));
  }
});

Deno.test("tls: the terminal client explains a refused certificate and where to make a good one", async (t) => {
  const cases: { kind: CertKind; flags: (c: Cert) => string[]; says: RegExp }[] = [
    // What plain `openssl req -x509` makes: rustls says only CaUsedAsEndEntity.
    {
      kind: "ca",
      flags: (c) => ["--ca-cert", c.certPath],
      says: /marked as a certificate authority \(CA\)/,
    },
    { kind: "expired", flags: (c) => ["--ca-cert", c.certPath], says: /certificate has expired/ },
    {
      kind: "other_name",
      flags: (c) => ["--ca-cert", c.certPath],
      says: /not made out for '127\.0\.0\.1'/,
    },
    // A self-signed certificate without --ca-cert: nobody vouches for it.
    {
      kind: "server",
      flags: () => ["--tls"],
      says: /not signed by an authority .* --ca-cert <file>/,
    },
  ];
  for (const { kind, flags, says } of cases) {
    await t.step(kind, async () => {
      const c = await makeCert(kind);
      const server = await startServer({ tls: { cert: c.cert, key: c.key } });
      try {
        const out = spawnClient(server.port, [
          "--known-servers",
          `${c.dir}/known_servers`,
          "--name",
          "terry",
          ...flags(c),
        ]);
        const writer = out.stdin.getWriter();
        await writer.write(new TextEncoder().encode(`${TEXT_PASSWORD}\n\n`));
        await writer.close();
        const { code, stdout, stderr } = await out.output();
        const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
        assert.equal(code, 1, text);
        assert.match(
          text,
          /! Cannot connect securely to 127\.0\.0\.1:\d+: The server's TLS certificate/,
        );
        assert.match(text, says);
        assert.match(text, /docs\/security\.md §10/);
        assert.doesNotMatch(text, /Is the server running/);
        assert.equal(server.router.stats.signIns, 0);
      } finally {
        await server.close();
        await Deno.remove(c.dir, { recursive: true }).catch(() => {});
      }
    });
  }
});
