import { parseArgs } from "node:util";
import { LOG_LEVELS, type LogLevel } from "./log.ts";
import { HTTP_TIMEOUTS } from "./http_timeouts.ts";
import { DEFAULT_HTTP_PORT, DEFAULT_TCP_PORT } from "./protocol/ports.ts";
import { DEFAULT_LIMITS, type Limits } from "./router/options.ts";
import { DEFAULT_FILE_QUOTA_MIB, DEFAULT_MAX_FILE_MIB } from "./files/service.ts";
import { type AddressRange, parseAddressRange } from "./net/address_ranges.ts";

/** Days of history kept unless `--history-days` says otherwise. */
export const DEFAULT_HISTORY_DAYS = 365;

/** Workers unless `--workers` says otherwise: one per core of this machine. */
export const DEFAULT_WORKERS = Math.max(1, navigator.hardwareConcurrency || 1);
import { DEFAULT_TRANSLATE_TIMEOUT_MS } from "./translate/service.ts";
import { PROVIDER_NAMES, type ProviderName } from "./translate/translator.ts";
import { IceServerError, parseIceServers } from "./ice_servers.ts";
import type { IceServer } from "./protocol/types.ts";
import { BusUrlError, parseRedisBusUrl } from "./bus/redis_url.ts";
import { checkPostgresUrl } from "./store/postgres/url.ts";

/**
 * Everything the server can be told at start-up. Defaults are not written here: each comes from
 * the constant its user defaults to (`DEFAULT_LIMITS`, `HTTP_TIMEOUTS`...), converted to the
 * flag's unit, so the server started without flags and a router built without limits agree.
 */
export interface Config {
  host: string;
  tcpPort: number;
  httpPort: number;
  dataDir: string;
  /**
   * The shared store: a PostgreSQL URL (`postgres://user:password@host/db`). Undefined: SQLite
   * in `dataDir`. Never log it as it is: `redactUrl` hides its password.
   */
  store?: string;
  /** The server identity's PEM file; undefined: `<dataDir>/identity_ed25519.pem`. */
  identityFile?: string;
  /** The data key's file; undefined: `<dataDir>/data.key` (PARLEY_DATA_KEY wins over both). */
  dataKeyFile?: string;
  logLevel: LogLevel;
  /** Seconds a connection has to sign in. */
  loginTimeout: number;
  /** Seconds a new HTTP connection has to send its first request's headers. */
  httpHeaderTimeout: number;
  /** Seconds a kept-alive HTTP connection may wait for its next request. */
  httpIdleTimeout: number;
  /** PEM certificate file; with `tlsKey`, both listeners speak TLS. */
  tlsCert?: string;
  /** PEM private key file for `tlsCert`. */
  tlsKey?: string;
  /** Accept plaintext text mode from any address, not just loopback (docs/security.md §11). */
  allowPlaintext: boolean;
  /** Load balancers whose connections start with a PROXY protocol header (docs/operations.md). */
  trustedProxies: AddressRange[];
  /** Who translates messages; `none` turns translation off. */
  translateProvider: ProviderName;
  /** The provider's base URL (Apertium APy, LibreTranslate; Google's by default). */
  translateUrl?: string;
  /** The provider's API key (Google: required; LibreTranslate: optional). */
  translateKey?: string;
  /** True when the key came from `--translate-key`, where `ps` shows it to every local user. */
  translateKeyFromFlag?: boolean;
  /** Seconds a message may wait for its translation before it goes out untranslated. */
  translateTimeout: number;
  /** Text mode shows only the translation, not the original after it, until `/originals on`. */
  hideOriginals: boolean;
  /** Connections open at once, in all. */
  maxConnections: number;
  /** True when --max-connections or its variable set `maxConnections`; unset: the default. */
  maxConnectionsGiven?: boolean;
  /** Connections open at once from one address. */
  maxConnectionsPerIp: number;
  /** New connections per address per minute. */
  connectionsPerMinute: number;
  /** Longest message, in UTF-8 bytes. */
  maxMessageBytes: number;
  /** Commands (frames or lines) per second per connection, sustained. */
  messageRate: number;
  /** Commands a connection may send in a burst. */
  messageBurst: number;
  /** KiB that may wait for one slow reader before it is disconnected. */
  maxQueuedKib: number;
  /** Seconds a reader may take nothing before it is disconnected as too slow. */
  slowReaderTimeout: number;
  /** Days private and room messages are kept (0: for ever). */
  historyDays: number;
  /** STUN/TURN servers the browsers use for calls (docs/calls.md); none: host candidates only. */
  iceServers?: IceServer[];
  /** True when a TURN credential came in `--ice-servers`, where `ps` shows it to every local user. */
  iceCredentialFromFlag?: boolean;
  /** Listeners on the same ports, each a Deno worker on its own core (1: one thread, as before). */
  workers: number;
  /** The Redis bus to the other nodes of the service (docs/bus.md); unset: a single node. */
  bus?: string;
  /** Largest file a user may share, in MiB. */
  maxFileMib: number;
  /** Storage each user's files may take, in MiB. */
  fileQuotaMib: number;
  /**
   * Where users reach the browser port (a load balancer's address), without a trailing slash:
   * the base of file links and one-time URLs. Unset: this node's own HTTP address.
   */
  publicUrl?: string;
}

interface Option {
  flag: string;
  env: string;
  /** Undefined: the option is unset unless given. */
  default: string | undefined;
  help: string;
  parse: (value: string, name: string) => unknown;
  key: keyof Config;
  /** A switch (`--flag`, no value); its environment variable takes 1/0, true/false, yes/no. */
  boolean?: true;
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
const count = (v: string, name: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigError(`${name} must be a whole number, 1 or more: current value is '${v}'`);
  }
  return n;
};
const text = (v: string, name: string) => {
  if (!v) throw new ConfigError(`${name} must not be empty`);
  return v;
};
const file = (v: string, name: string) => {
  if (!v) throw new ConfigError(`${name} must name a file`);
  return v;
};
const yesNo = (v: string, name: string) => {
  const s = v.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["", "0", "false", "no", "off"].includes(s)) return false;
  throw new ConfigError(`${name} must be 1 or 0 (true or false): current value is '${v}'`);
};
const provider = (v: string, name: string) => {
  if (!(PROVIDER_NAMES as readonly string[]).includes(v)) {
    throw new ConfigError(
      `${name} must be one of ${PROVIDER_NAMES.join(", ")}: current value is '${v}'`,
    );
  }
  return v;
};
const url = (v: string, name: string) => {
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL: current value is '${v}'`);
  }
  if (!["http:", "https:"].includes(parsed.protocol)) {
    throw new ConfigError(`${name} must be an http(s) URL: current value is '${v}'`);
  }
  return v.replace(/\/+$/, "");
};
const ranges = (v: string, name: string) => {
  const items = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
  return items.map((item) => {
    try {
      return parseAddressRange(item);
    } catch (err) {
      throw new ConfigError(
        `${name} must be addresses or CIDR ranges separated by commas: ${(err as Error).message}`,
      );
    }
  });
};
const storeUrl = (v: string, name: string) => {
  // Unset or empty: SQLite. Errors show the URL with its password hidden.
  if (v.trim() === "") return undefined;
  const problem = checkPostgresUrl(v.trim());
  if (problem) {
    throw new ConfigError(
      `${name} must be a PostgreSQL URL (leave it unset for SQLite in --data-dir): ${problem}`,
    );
  }
  return v.trim();
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
    default: String(DEFAULT_TCP_PORT),
    help: "TCP port (text and JSON modes; 0 = any free port)",
    parse: port,
    key: "tcpPort",
  },
  {
    flag: "http-port",
    env: "PARLEY_HTTP_PORT",
    default: String(DEFAULT_HTTP_PORT),
    help: "HTTP port for the browser client",
    parse: port,
    key: "httpPort",
  },
  {
    flag: "data-dir",
    env: "PARLEY_DATA_DIR",
    default: "./data",
    help: "directory for the SQLite store, the lock, and the identity and data key files",
    parse: text,
    key: "dataDir",
  },
  {
    flag: "store",
    env: "PARLEY_STORE",
    default: undefined,
    help: "postgres://user:password@host:5432/db to share a PostgreSQL store between nodes " +
      "(default: SQLite in --data-dir); set it in the environment: a flag shows in ps",
    parse: storeUrl,
    key: "store",
  },
  {
    flag: "identity-file",
    env: "PARLEY_IDENTITY_FILE",
    default: undefined,
    help: "the server identity key (PEM), the same file on every node (default: " +
      "<data-dir>/identity_ed25519.pem; made there on first start when missing)",
    parse: file,
    key: "identityFile",
  },
  {
    flag: "data-key-file",
    env: "PARLEY_DATA_KEY_FILE",
    default: undefined,
    help: "the data key file, the same key on every node (default: <data-dir>/data.key; " +
      "PARLEY_DATA_KEY wins)",
    parse: file,
    key: "dataKeyFile",
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
    default: String(DEFAULT_LIMITS.loginTimeoutMs / 1000),
    help: "seconds a connection has to sign in",
    parse: positive,
    key: "loginTimeout",
  },
  {
    flag: "http-header-timeout",
    env: "PARLEY_HTTP_HEADER_TIMEOUT",
    default: String(HTTP_TIMEOUTS.headerMs / 1000),
    help: "seconds a new HTTP connection has to send its first request",
    parse: positive,
    key: "httpHeaderTimeout",
  },
  {
    flag: "http-idle-timeout",
    env: "PARLEY_HTTP_IDLE_TIMEOUT",
    default: String(HTTP_TIMEOUTS.idleMs / 1000),
    help: "seconds a kept-alive HTTP connection may wait for its next request",
    parse: positive,
    key: "httpIdleTimeout",
  },
  {
    flag: "tls-cert",
    env: "PARLEY_TLS_CERT",
    default: undefined,
    help: "TLS certificate (PEM); with --tls-key, TCP and HTTP both use TLS",
    parse: file,
    key: "tlsCert",
  },
  {
    flag: "tls-key",
    env: "PARLEY_TLS_KEY",
    default: undefined,
    help: "TLS private key (PEM) for --tls-cert",
    parse: file,
    key: "tlsKey",
  },
  {
    flag: "allow-plaintext",
    env: "PARLEY_ALLOW_PLAINTEXT",
    default: "0",
    help: "accept text mode without TLS from any address, not only loopback",
    parse: yesNo,
    key: "allowPlaintext",
    boolean: true,
  },
  {
    flag: "trusted-proxies",
    env: "PARLEY_TRUSTED_PROXIES",
    default: "",
    help: "load balancers (addresses or CIDR ranges, comma-separated) that send the PROXY " +
      "protocol header on both ports; connections from them must start with it",
    parse: ranges,
    key: "trustedProxies",
  },
  {
    flag: "translate-provider",
    env: "PARLEY_TRANSLATE_PROVIDER",
    default: "none",
    help: `who translates messages: ${PROVIDER_NAMES.join(", ")} (none: off)`,
    parse: provider,
    key: "translateProvider",
  },
  {
    flag: "translate-url",
    env: "PARLEY_TRANSLATE_URL",
    default: undefined,
    help: "provider base URL (apertium: http://127.0.0.1:2737; libretranslate: required)",
    parse: url,
    key: "translateUrl",
  },
  {
    flag: "translate-key",
    env: "PARLEY_TRANSLATE_KEY",
    default: undefined,
    help: "provider API key (google: required; libretranslate: if the server wants one); " +
      "set it in the environment: a flag shows in ps",
    parse: text,
    key: "translateKey",
  },
  {
    flag: "translate-timeout",
    env: "PARLEY_TRANSLATE_TIMEOUT",
    default: String(DEFAULT_TRANSLATE_TIMEOUT_MS / 1000),
    help: "seconds a message waits for its translation before it goes out untranslated",
    parse: positive,
    key: "translateTimeout",
  },
  {
    flag: "hide-originals",
    env: "PARLEY_HIDE_ORIGINALS",
    default: "0",
    help: "text mode shows translations without the original after them (/originals on)",
    parse: yesNo,
    key: "hideOriginals",
    boolean: true,
  },
  {
    flag: "max-connections",
    env: "PARLEY_MAX_CONNECTIONS",
    default: String(DEFAULT_LIMITS.maxConnections),
    help: "connections open at once, in all (TCP and HTTP, WebSockets included)",
    parse: count,
    key: "maxConnections",
  },
  {
    flag: "max-connections-per-ip",
    env: "PARLEY_MAX_CONNECTIONS_PER_IP",
    default: String(DEFAULT_LIMITS.maxConnectionsPerIp),
    help: "connections open at once from one address",
    parse: count,
    key: "maxConnectionsPerIp",
  },
  {
    flag: "connections-per-minute",
    env: "PARLEY_NEW_CONNECTIONS_PER_MINUTE",
    default: String(DEFAULT_LIMITS.newConnectionsPerMinute),
    help: "new connections one address may open per minute",
    parse: count,
    key: "connectionsPerMinute",
  },
  {
    flag: "max-message-bytes",
    env: "PARLEY_MAX_MESSAGE_BYTES",
    default: String(DEFAULT_LIMITS.maxMessageBytes),
    help: "longest message text, in UTF-8 bytes (at most 6000: a line is 8 KiB)",
    parse: (v, name) => {
      const n = count(v, name);
      if (n > 6000) throw new ConfigError(`${name} must be at most 6000: current value is '${v}'`);
      return n;
    },
    key: "maxMessageBytes",
  },
  {
    flag: "message-rate",
    env: "PARLEY_MESSAGE_RATE",
    default: String(DEFAULT_LIMITS.ratePerSec),
    help: "commands per second one connection may send, sustained",
    parse: positive,
    key: "messageRate",
  },
  {
    flag: "message-burst",
    env: "PARLEY_MESSAGE_BURST",
    default: String(DEFAULT_LIMITS.rateBurst),
    help: "commands one connection may send in a burst",
    parse: count,
    key: "messageBurst",
  },
  {
    flag: "max-queued-kib",
    env: "PARLEY_MAX_QUEUED_KIB",
    default: String(DEFAULT_LIMITS.maxQueuedBytes / 1024),
    help: "KiB waiting for one reader before it is disconnected as too slow",
    parse: count,
    key: "maxQueuedKib",
  },
  {
    flag: "slow-reader-timeout",
    env: "PARLEY_SLOW_READER_TIMEOUT",
    default: String(DEFAULT_LIMITS.slowReaderMs / 1000),
    help: "seconds a reader may take nothing before it is disconnected as too slow",
    parse: positive,
    key: "slowReaderTimeout",
  },
  {
    flag: "history-days",
    env: "PARLEY_HISTORY_DAYS",
    default: String(DEFAULT_HISTORY_DAYS),
    help: "days private and room messages are kept as history (0 = for ever)",
    parse: (v, name) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) {
        throw new ConfigError(`${name} must be a whole number, 0 or more: current value is '${v}'`);
      }
      return n;
    },
    key: "historyDays",
  },
  {
    flag: "ice-servers",
    env: "PARLEY_ICE_SERVERS",
    default: undefined,
    help: "STUN/TURN servers for calls: stun:host:3478,turn:USER:CREDENTIAL@host:3478 " +
      "(or JSON; see docs/calls.md); set TURN credentials in the environment",
    parse: (v, name) => {
      try {
        return parseIceServers(v);
      } catch (err) {
        if (err instanceof IceServerError) throw new ConfigError(`${name} ${err.message}`);
        throw err;
      }
    },
    key: "iceServers",
  },
  {
    flag: "workers",
    env: "PARLEY_WORKERS",
    default: String(DEFAULT_WORKERS),
    help: "listeners sharing the ports, one per core (default: this machine's cores)",
    parse: count,
    key: "workers",
  },
  {
    flag: "bus",
    env: "PARLEY_BUS",
    default: undefined,
    help: "redis://[:password@]host:port[?channel=name]: the bus to the other nodes " +
      "(docs/bus.md); unset: this node is the whole service",
    parse: (v, name) => {
      try {
        parseRedisBusUrl(v);
      } catch (err) {
        if (err instanceof BusUrlError) throw new ConfigError(`${name} ${err.message}`);
        throw err;
      }
      return v;
    },
    key: "bus",
  },
  {
    flag: "max-file-mib",
    env: "PARLEY_MAX_FILE_MIB",
    default: String(DEFAULT_MAX_FILE_MIB),
    help: "largest file a user may share, in MiB",
    parse: count,
    key: "maxFileMib",
  },
  {
    flag: "file-quota-mib",
    env: "PARLEY_FILE_QUOTA_MIB",
    default: String(DEFAULT_FILE_QUOTA_MIB),
    help: "storage each user's shared files may take, in MiB (files go with their history)",
    parse: count,
    key: "fileQuotaMib",
  },
  {
    flag: "public-url",
    env: "PARLEY_PUBLIC_URL",
    default: undefined,
    help: "where users reach the browser port (behind a load balancer): the base of file links",
    parse: url,
    key: "publicUrl",
  },
];

/**
 * The router limits `config` sets, in the router's units (milliseconds, bytes). Limits with no
 * option (typing indicator, pending batch, rest) keep their `DEFAULT_LIMITS` values.
 */
export function limitsFromConfig(config: Config): Partial<Limits> {
  return {
    loginTimeoutMs: config.loginTimeout * 1000,
    maxConnections: config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    newConnectionsPerMinute: config.connectionsPerMinute,
    maxMessageBytes: config.maxMessageBytes,
    ratePerSec: config.messageRate,
    rateBurst: config.messageBurst,
    maxQueuedBytes: config.maxQueuedKib * 1024,
    slowReaderMs: config.slowReaderTimeout * 1000,
  };
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The text `--help` prints. */
export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const env = o.boolean ? `${o.env}=1` : o.env;
    const def = o.boolean ? "off" : o.default ?? "none";
    return `  --${o.flag.padEnd(22)} ${o.help}\n  ${"".padEnd(24)} env ${env}, default ${def}`;
  });
  return [
    "Parley: a chat server for terminals, nc and browsers.",
    "",
    "Usage: deno task start [options]",
    "",
    "Options (a flag wins over its environment variable):",
    ...rows,
    "  --help             show this help",
    "",
    "Environment only:",
    "  PARLEY_DATA_KEY    the key that seals stored messages (base64 of 32 bytes, e.g. from",
    "                     `openssl rand -base64 32`); when unset, --data-key-file or",
    "                     <data-dir>/data.key is used, made on first start (mode 0600).",
    "                     Keep it: without it the stored messages cannot be read and Parley",
    "                     will not start. Nodes sharing a --store need the same key.",
  ].join("\n");
}

/**
 * Drops each lone `--` where a flag could stand: `deno task start -- --tcp-port 7005` (as npm
 * and other tools are used) passes it through, and Parley takes no positional arguments that
 * it could separate. A `--` where a flag's value is due (`--data-dir --`) stays, for parseArgs
 * to explain.
 */
function withoutSeparators(args: string[]): string[] {
  const takesValue = new Set(OPTIONS.filter((o) => !o.boolean).map((o) => `--${o.flag}`));
  return args.filter((arg, i) => arg !== "--" || takesValue.has(args[i - 1]));
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
      args: withoutSeparators(args),
      options: Object.fromEntries([
        ...OPTIONS.map((
          o,
        ) => [o.flag, { type: o.boolean ? "boolean" as const : "string" as const }]),
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
    const flagged = values[o.flag];
    const fromFlag = flagged === true ? "1" : flagged as string | undefined;
    const value = fromFlag ?? env(o.env) ?? o.default;
    if (value === undefined) continue;
    const source = fromFlag === undefined && env(o.env) !== undefined ? o.env : `--${o.flag}`;
    const parsed = o.parse(value, source);
    if (parsed !== undefined) config[o.key] = parsed;
  }
  if (values["translate-key"] !== undefined) config.translateKeyFromFlag = true;
  if (values["max-connections"] !== undefined || env("PARLEY_MAX_CONNECTIONS") !== undefined) {
    config.maxConnectionsGiven = true;
  }
  if (
    values["ice-servers"] !== undefined &&
    (config.iceServers as IceServer[]).some((s) => s.credential !== undefined)
  ) {
    config.iceCredentialFromFlag = true;
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    const [given, missing] = config.tlsCert === undefined
      ? ["--tls-key", "--tls-cert"]
      : ["--tls-cert", "--tls-key"];
    throw new ConfigError(
      `${given} needs ${missing} too: give both (PEM certificate and its private key) or neither`,
    );
  }
  if (config.tlsCert !== undefined && (config.trustedProxies as AddressRange[]).length > 0) {
    // The PROXY header comes before the TLS handshake, which Deno's TLS listener cannot skip.
    throw new ConfigError(
      "--trusted-proxies cannot be combined with --tls-cert: end TLS at the load balancer " +
        "(docs/operations.md) or give no trusted proxies",
    );
  }
  if (config.translateProvider === "google" && config.translateKey === undefined) {
    throw new ConfigError(
      "--translate-provider google needs an API key: set --translate-key or PARLEY_TRANSLATE_KEY",
    );
  }
  if (config.translateProvider === "libretranslate" && config.translateUrl === undefined) {
    throw new ConfigError(
      "--translate-provider libretranslate needs its address: set --translate-url or " +
        "PARLEY_TRANSLATE_URL (e.g. http://127.0.0.1:5000)",
    );
  }
  return config as unknown as Config;
}
