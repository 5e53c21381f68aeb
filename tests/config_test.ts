import assert from "node:assert/strict";
import { type Config, ConfigError, helpText, limitsFromConfig, loadConfig } from "../lib/config.ts";
import { CLIENT_HELP, type ClientArgs, parseClientArgs } from "../lib/client/terminal/args.ts";
import { HTTP_TIMEOUTS } from "../lib/http_timeouts.ts";
import { DEFAULT_LIMITS } from "../lib/router/options.ts";
import { DEFAULT_TRANSLATE_TIMEOUT_MS } from "../lib/translate/service.ts";

const noEnv = () => undefined;

Deno.test("loadConfig() has the documented defaults", () => {
  assert.deepEqual(loadConfig([], noEnv), {
    host: "127.0.0.1",
    tcpPort: 7000,
    httpPort: 8000,
    dataDir: "./data",
    logLevel: "info",
    loginTimeout: 30,
    httpHeaderTimeout: 10,
    httpIdleTimeout: 30,
    allowPlaintext: false,
    trustedProxies: [],
    translateProvider: "none",
    translateTimeout: 2,
    hideOriginals: false,
    maxConnections: 20000,
    maxConnectionsPerIp: 200,
    connectionsPerMinute: 600,
    maxMessageBytes: 4096,
    messageRate: 10,
    messageBurst: 30,
    maxQueuedKib: 1024,
    slowReaderTimeout: 5,
    historyDays: 365,
    maxFileMib: 25,
    fileQuotaMib: 1024,
    workers: navigator.hardwareConcurrency,
  });
});

Deno.test("--workers defaults to the machine's cores and takes a whole number, 1 or more", () => {
  assert.equal((loadConfig([], noEnv) as Config).workers, navigator.hardwareConcurrency);
  assert.equal((loadConfig(["--workers", "1"], noEnv) as Config).workers, 1);
  const env = (name: string) => name === "PARLEY_WORKERS" ? "3" : undefined;
  assert.equal((loadConfig([], env) as Config).workers, 3);
  for (const bad of ["0", "-1", "1.5", "many"]) {
    assert.throws(
      () => loadConfig([`--workers=${bad}`], noEnv),
      /--workers must be a whole number, 1 or more/,
    );
  }
});

Deno.test("a server started without flags runs the defaults a router built without limits has", () => {
  const config = loadConfig([], noEnv) as Config;
  // Limits without a flag: the lazy wait is the transports' own (server/turn.ts), passed by main.ts;
  // the ring time of a call has none either.
  const {
    typingTtlMs: _t,
    pendingBatch: _p,
    textReadDelayMs: _d,
    restAfterMs: _r,
    lazyWaitMs: _l,
    callRingMs: _c,
    ...configurable
  } = DEFAULT_LIMITS;
  assert.deepEqual(limitsFromConfig(config), configurable);
  assert.equal(config.httpHeaderTimeout * 1000, HTTP_TIMEOUTS.headerMs);
  assert.equal(config.httpIdleTimeout * 1000, HTTP_TIMEOUTS.idleMs);
  assert.equal(config.translateTimeout * 1000, DEFAULT_TRANSLATE_TIMEOUT_MS);
});

Deno.test("the terminal client looks for the server where it listens by default", () => {
  const config = loadConfig([], noEnv) as Config;
  const client = parseClientArgs([], noEnv) as ClientArgs;
  assert.equal(client.port, config.tcpPort);
  assert.match(CLIENT_HELP, new RegExp(`PARLEY_TCP_PORT, default ${config.tcpPort}\\b`));
});

Deno.test("limitsFromConfig() carries every limit flag into the router's units", () => {
  const config = loadConfig([
    "--login-timeout=7",
    "--max-connections=11",
    "--max-connections-per-ip=3",
    "--connections-per-minute=9",
    "--max-message-bytes=100",
    "--message-rate=2",
    "--message-burst=4",
    "--max-queued-kib=64",
    "--slow-reader-timeout=1.5",
  ], noEnv) as Config;
  assert.deepEqual(limitsFromConfig(config), {
    loginTimeoutMs: 7000,
    maxConnections: 11,
    maxConnectionsPerIp: 3,
    newConnectionsPerMinute: 9,
    maxMessageBytes: 100,
    ratePerSec: 2,
    rateBurst: 4,
    maxQueuedBytes: 64 * 1024,
    slowReaderMs: 1500,
  });
});

Deno.test("loadConfig(): translation providers are checked and need what they need", () => {
  const config = loadConfig(
    ["--translate-provider", "apertium", "--translate-url", "http://127.0.0.1:2737/"],
    noEnv,
  );
  assert.ok(config !== "help");
  assert.equal(config.translateProvider, "apertium");
  assert.equal(config.translateUrl, "http://127.0.0.1:2737", "a trailing slash is dropped");
  assert.throws(() => loadConfig(["--translate-provider", "deepl"], noEnv), /must be one of/);
  assert.throws(() => loadConfig(["--translate-provider", "google"], noEnv), /needs an API key/);
  assert.throws(
    () => loadConfig(["--translate-provider", "libretranslate"], noEnv),
    /needs its address/,
  );
  assert.throws(() => loadConfig(["--translate-url", "ftp://x"], noEnv), /http\(s\) URL/);
  assert.throws(() => loadConfig(["--translate-timeout", "0"], noEnv), /positive/);
  const env = (n: string) =>
    ({ PARLEY_TRANSLATE_PROVIDER: "google", PARLEY_TRANSLATE_KEY: "k" })[n];
  const fromEnv = loadConfig([], env);
  assert.ok(fromEnv !== "help");
  assert.equal(fromEnv.translateKey, "k");
});

Deno.test("loadConfig(): --tls-cert and --tls-key come together; --allow-plaintext is a switch", () => {
  const config = loadConfig(
    ["--tls-cert", "c.pem", "--tls-key", "k.pem", "--allow-plaintext"],
    noEnv,
  );
  assert.ok(config !== "help");
  assert.equal(config.tlsCert, "c.pem");
  assert.equal(config.tlsKey, "k.pem");
  assert.equal(config.allowPlaintext, true);
  const env = (n: string) =>
    ({
      PARLEY_TLS_CERT: "/e/c.pem",
      PARLEY_TLS_KEY: "/e/k.pem",
      PARLEY_ALLOW_PLAINTEXT: "1",
    } as Record<string, string>)[n];
  const fromEnv = loadConfig([], env);
  assert.ok(fromEnv !== "help");
  assert.deepEqual([fromEnv.tlsCert, fromEnv.tlsKey, fromEnv.allowPlaintext], [
    "/e/c.pem",
    "/e/k.pem",
    true,
  ]);
  const off = loadConfig([], (n) => n === "PARLEY_ALLOW_PLAINTEXT" ? "0" : undefined);
  assert.ok(off !== "help" && off.allowPlaintext === false);
  assert.throws(
    () => loadConfig(["--tls-cert", "c.pem"], noEnv),
    new ConfigError(
      "--tls-cert needs --tls-key too: give both (PEM certificate and its private key) or neither",
    ),
  );
  assert.throws(
    () => loadConfig([], (n) => n === "PARLEY_TLS_KEY" ? "k.pem" : undefined),
    /--tls-key needs --tls-cert too/,
  );
  assert.throws(
    () => loadConfig(["--tls-cert", "", "--tls-key", "k.pem"], noEnv),
    /--tls-cert must name a file/,
  );
  assert.throws(
    () => loadConfig([], (n) => n === "PARLEY_ALLOW_PLAINTEXT" ? "maybe" : undefined),
    /PARLEY_ALLOW_PLAINTEXT must be 1 or 0/,
  );
});

Deno.test("loadConfig() takes flags over environment variables", () => {
  const env = (n: string) =>
    ({ PARLEY_TCP_PORT: "7100", PARLEY_DATA_DIR: "/tmp/x" } as Record<string, string>)[n];
  const config = loadConfig(["--tcp-port", "7200", "--log-level=debug"], env);
  assert.ok(config !== "help");
  assert.equal(config.tcpPort, 7200);
  assert.equal(config.dataDir, "/tmp/x");
  assert.equal(config.logLevel, "debug");
});

Deno.test("loadConfig() names the bad option and value", () => {
  assert.throws(
    () => loadConfig(["--tcp-port", "70000"], noEnv),
    new ConfigError("--tcp-port must be a port number from 0 to 65535: current value is '70000'"),
  );
  assert.throws(
    () => loadConfig([], (n) => n === "PARLEY_LOG_LEVEL" ? "loud" : undefined),
    /PARLEY_LOG_LEVEL must be one of debug, info, warn, error, silent: current value is 'loud'/,
  );
  assert.throws(() => loadConfig(["--nope"], noEnv), /Unknown option '--nope'.*Try --help/);
});

Deno.test("--help lists every option with its environment variable", () => {
  assert.equal(loadConfig(["--help"], noEnv), "help");
  const help = helpText();
  for (
    const flag of [
      "--host",
      "--tcp-port",
      "--http-port",
      "--data-dir",
      "--log-level",
      "--login-timeout",
      "--tls-cert",
      "--tls-key",
      "--allow-plaintext",
    ]
  ) {
    assert.ok(help.includes(flag), flag);
  }
  assert.match(help, /PARLEY_TCP_PORT, default 7000/);
  assert.match(help, /PARLEY_DATA_KEY +the key that seals stored messages/);
});

Deno.test("--public-url names where users reach the browser port; not a URL is refused", () => {
  const config = loadConfig(["--public-url", "https://chat.example.org/"], noEnv);
  assert.ok(config !== "help");
  assert.equal(config.publicUrl, "https://chat.example.org");
  const unset = loadConfig([], noEnv);
  assert.ok(unset !== "help" && unset.publicUrl === undefined);
  assert.throws(
    () => loadConfig([], (name) => name === "PARLEY_PUBLIC_URL" ? "chat.example.org" : undefined),
    /PARLEY_PUBLIC_URL must be an http\(s\) URL/,
  );
});

Deno.test("loadConfig() accepts a lone -- before the flags, as `deno task start -- …` passes", () => {
  const config = loadConfig(["--", "--tcp-port", "7005", "--", "--http-port=8005"], noEnv);
  assert.ok(config !== "help");
  assert.equal(config.tcpPort, 7005);
  assert.equal(config.httpPort, 8005);
  // Where a value is expected it is not dropped: the value is missing, and the error says how.
  assert.throws(
    () => loadConfig(["--data-dir", "--"], noEnv),
    /'--data-dir' argument is ambiguous/,
  );
});

Deno.test("the file limits are read from their flags and environment, and checked", () => {
  const config = loadConfig(
    ["--max-file-mib", "100"],
    (name) => name === "PARLEY_FILE_QUOTA_MIB" ? "5000" : undefined,
  ) as Config;
  assert.equal(config.maxFileMib, 100);
  assert.equal(config.fileQuotaMib, 5000);
  assert.throws(
    () => loadConfig(["--max-file-mib", "0"], noEnv),
    (err) =>
      err instanceof ConfigError &&
      /--max-file-mib must be a whole number, 1 or more/.test(err.message),
  );
  assert.throws(() => loadConfig(["--file-quota-mib", "1.5"], noEnv), ConfigError);
  assert.match(helpText(), /--max-file-mib[\s\S]*PARLEY_MAX_FILE_MIB, default 25/);
});

Deno.test("loadConfig(): --store takes a PostgreSQL URL; a bad one is refused without its password", () => {
  const url = "postgres://parley:s3cret-pw@db.example:5432/parley";
  const fromFlag = loadConfig(["--store", url], noEnv) as Config;
  assert.equal(fromFlag.store, url);
  const fromEnv = loadConfig([], (n) => n === "PARLEY_STORE" ? `postgresql://db/chat` : undefined);
  assert.equal((fromEnv as Config).store, "postgresql://db/chat");
  // Unset or empty: SQLite in the data directory.
  assert.equal((loadConfig([], noEnv) as Config).store, undefined);
  assert.equal((loadConfig(["--store", ""], noEnv) as Config).store, undefined);
  for (
    const [bad, why] of [
      ["mysql://parley:s3cret-pw@db/parley", /not a PostgreSQL URL/],
      ["postgres://parley:s3cret-pw@db.example:5432", /names no database/],
      ["postgres://parley:s3cret-pw@:5432/parley", /names no host|not a URL/],
      ["parley:s3cret-pw@db/parley", /not a (PostgreSQL )?URL/],
      ["postgres://parley:s3cret-pw@db:99999/parley", /not a URL|bad port/],
    ] as const
  ) {
    assert.throws(() => loadConfig(["--store", bad], noEnv), (err) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^--store must be a PostgreSQL URL/);
      assert.match(err.message, why);
      assert.doesNotMatch(err.message, /s3cret-pw/, "the password is never shown");
      return true;
    });
  }
  assert.throws(
    () => loadConfig([], (n) => n === "PARLEY_STORE" ? "redis://x:s3cret-pw@h/0" : undefined),
    (err) =>
      err instanceof ConfigError && /^PARLEY_STORE/.test(err.message) &&
      !err.message.includes("s3cret-pw"),
  );
});

Deno.test("loadConfig(): the identity and data key files can be named (the same on every node)", () => {
  const config = loadConfig(
    ["--identity-file", "/etc/parley/identity.pem"],
    (n) => n === "PARLEY_DATA_KEY_FILE" ? "/etc/parley/data.key" : undefined,
  ) as Config;
  assert.equal(config.identityFile, "/etc/parley/identity.pem");
  assert.equal(config.dataKeyFile, "/etc/parley/data.key");
  assert.throws(
    () => loadConfig(["--identity-file", ""], noEnv),
    /--identity-file must name a file/,
  );
});
