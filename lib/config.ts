import { parseArgs } from "node:util";
import { LOG_LEVELS, type LogLevel } from "./log.ts";

/** Everything the server can be told at start-up. */
export interface Config {
  host: string;
  tcpPort: number;
  httpPort: number;
  dataDir: string;
  logLevel: LogLevel;
  /** Seconds a connection has to sign in. */
  loginTimeout: number;
}

interface Option {
  flag: string;
  env: string;
  default: string;
  help: string;
  parse: (value: string, name: string) => unknown;
  key: keyof Config;
}

const port = (v: string, name: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError(`${name} must be a port number from 0 to 65535: current value is '${v}'`);
  }
  return n;
};
const positive = (v: string, name: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new ConfigError(`${name} must be a positive number: current value is '${v}'`);
  return n;
};
const text = (v: string, name: string) => {
  if (!v) throw new ConfigError(`${name} must not be empty`);
  return v;
};
const level = (v: string, name: string) => {
  if (!(LOG_LEVELS as readonly string[]).includes(v)) {
    throw new ConfigError(
      `${name} must be one of ${LOG_LEVELS.join(", ")}: current value is '${v}'`,
    );
  }
  return v;
};

export const OPTIONS: Option[] = [
  {
    flag: "host",
    env: "PARLEY_HOST",
    default: "127.0.0.1",
    help: "address to listen on",
    parse: text,
    key: "host",
  },
  {
    flag: "tcp-port",
    env: "PARLEY_TCP_PORT",
    default: "7000",
    help: "TCP port (text and JSON modes; 0 = any free port)",
    parse: port,
    key: "tcpPort",
  },
  {
    flag: "http-port",
    env: "PARLEY_HTTP_PORT",
    default: "8000",
    help: "HTTP port for the browser client",
    parse: port,
    key: "httpPort",
  },
  {
    flag: "data-dir",
    env: "PARLEY_DATA_DIR",
    default: "./data",
    help: "directory for the SQLite store",
    parse: text,
    key: "dataDir",
  },
  {
    flag: "log-level",
    env: "PARLEY_LOG_LEVEL",
    default: "info",
    help: `one of ${LOG_LEVELS.join(", ")}`,
    parse: level,
    key: "logLevel",
  },
  {
    flag: "login-timeout",
    env: "PARLEY_LOGIN_TIMEOUT",
    default: "30",
    help: "seconds a connection has to sign in",
    parse: positive,
    key: "loginTimeout",
  },
];

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The text `--help` prints. */
export function helpText(): string {
  const rows = OPTIONS.map((o) =>
    `  --${o.flag.padEnd(14)} ${o.help}\n  ${"".padEnd(16)} env ${o.env}, default ${o.default}`
  );
  return [
    "Parley: a chat server for terminals, nc and browsers.",
    "",
    "Usage: deno task start [options]",
    "",
    "Options (a flag wins over its environment variable):",
    ...rows,
    "  --help           show this help",
  ].join("\n");
}

/**
 * Reads flags, then environment variables, then defaults.
 * @throws {ConfigError} for unknown flags or invalid values, with a message naming the option.
 */
export function loadConfig(
  args: string[],
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Config | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: Object.fromEntries([
        ...OPTIONS.map((o) => [o.flag, { type: "string" as const }]),
        ["help", { type: "boolean" as const, short: "h" }],
      ]),
      strict: true,
      allowPositionals: false,
    }) as { values: Record<string, string | boolean | undefined> });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}. Try --help.`);
  }
  if (values.help) return "help";
  const config: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const fromFlag = values[o.flag] as string | undefined;
    const value = fromFlag ?? env(o.env) ?? o.default;
    const source = fromFlag === undefined && env(o.env) !== undefined ? o.env : `--${o.flag}`;
    config[o.key] = o.parse(value, source);
  }
  return config as unknown as Config;
}
