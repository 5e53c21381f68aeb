import assert from "node:assert/strict";
import { ConfigError, helpText, loadConfig } from "../lib/config.ts";

const noEnv = () => undefined;

Deno.test("loadConfig() has the documented defaults", () => {
  assert.deepEqual(loadConfig([], noEnv), {
    host: "127.0.0.1",
    tcpPort: 7000,
    httpPort: 8000,
    dataDir: "./data",
    logLevel: "info",
    loginTimeout: 30,
  });
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
    ]
  ) {
    assert.ok(help.includes(flag), flag);
  }
  assert.match(help, /PARLEY_TCP_PORT, default 7000/);
});
