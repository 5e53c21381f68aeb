/**
 * Composition root, in named steps: read the config, open the data directory (its lock, the
 * identity), open the store, build the router, listen, wait for SIGINT/SIGTERM, then shut down
 * gracefully (stop accepting, say goodbye to every client, close the store).
 */
import { LAZY_MAX_WAIT_MS } from "./server/turn.ts";
import { type Config, ConfigError, helpText, limitsFromConfig, loadConfig } from "./lib/config.ts";
import { createLogger, type Logger } from "./lib/log.ts";
import { RedisBus } from "./lib/bus/redis.ts";
import { composeRouter, type Router } from "./lib/router/mod.ts";
import { SqliteStore, type Store } from "./lib/store/mod.ts";
import { PostgresStore, redactUrl, SchemaError } from "./lib/store/postgres/mod.ts";
import { isParleyError } from "./lib/errors.ts";
import { startRetention } from "./lib/router/retention.ts";
import { isCryptoError, type ServerIdentity } from "./lib/crypto/mod.ts";
import {
  DATA_KEY_ENV,
  IDENTITY_FILE,
  loadOrCreateDataKey,
  loadOrCreateIdentity,
} from "./lib/crypto/key_files.ts";
import { serveTcp, type TcpServer } from "./server/tcp.ts";
import { loadAssets } from "./server/assets.ts";
import { type HttpServer, serveHttp } from "./server/http.ts";
import { isLoopback } from "./server/plaintext_policy.ts";
import { type DataDirLock, DataDirLockedError, lockDataDir } from "./server/data_dir_lock.ts";
import { describeTlsError, loadTlsFiles, type TlsFiles, TlsSetupError } from "./server/tls.ts";
import { type MemoryTrimmer, startMemoryTrim } from "./server/memory_trim.ts";
import {
  SHUTDOWN_GRACE_SECONDS,
  type StopSignals,
  watchStopSignals,
} from "./server/stop_signals.ts";
import { describeListenError } from "./server/listen_error.ts";
import { fitConnections, openFileCount, openFileLimit } from "./server/fd_limit.ts";
import {
  APERTIUM_BASE_URL,
  createTranslator,
  GOOGLE_BASE_URL,
} from "./lib/translate/providers/mod.ts";
import { KDF_ENV, readKdfSetting } from "./lib/accounts/kdf_setting.ts";
import { VERSION } from "./lib/version.ts";

/** Where a provider is reached when no --translate-url is given (LibreTranslate needs one). */
const DEFAULT_TRANSLATE_URLS: Record<string, string> = {
  google: GOOGLE_BASE_URL,
  apertium: APERTIUM_BASE_URL,
};

/** How long the shutdown waits for each listener to finish before it closes the store. */
const LISTENER_DRAIN_MS = 3000;

/**
 * Start-up stops here: each line goes to stderr after `parley: `, then the process exits with
 * `exitCode` (2 for a bad configuration, 1 for anything else).
 */
class StartFailure extends Error {
  constructor(readonly lines: string[], readonly exitCode = 1) {
    super(lines.join("\n"));
  }
}

/** What the command line and the environment asked for. */
interface Settings {
  config: Config;
  logger: Logger;
  /** PBKDF2 iterations for new password hashes (PARLEY_KDF_ITERATIONS). */
  kdfIterations: number;
  /** Both listeners speak TLS with these, when --tls-cert/--tls-key are given. */
  tls?: TlsFiles;
}

/** The data directory, held: its lock and the server's long-term identity. */
interface DataDir {
  lock: DataDirLock;
  identity: ServerIdentity;
  /** Where a new identity was written; undefined when it was already there. */
  createdIdentityAt?: string;
}

interface Listeners {
  tcp: TcpServer;
  /** Absent without built assets: the server then runs for TCP clients only. */
  http?: HttpServer;
}

async function main(): Promise<number> {
  let settings;
  try {
    settings = await readSettings(Deno.args);
  } catch (err) {
    return startFailed(err);
  }
  if (settings === "help") {
    console.log(helpText());
    return 0;
  }
  const { config, logger } = settings;
  // Listen for signals before anything else, so a stop during start-up is still graceful.
  // They stay installed until the end: a repeated signal must not cut the shutdown short. The
  // shutdown lets messages waiting for a translation go out first, so it may take that long.
  const signals = watchStopSignals({
    logger,
    graceMs: Math.max(SHUTDOWN_GRACE_SECONDS, config.translateTimeout + 5) * 1000,
  });
  let dataDir, store;
  try {
    const lock = await lockDataDirOf(config);
    if (config.store === undefined) {
      dataDir = { lock, ...await loadIdentity(config) };
      store = await openStore(config, logger);
    } else {
      const shared = await openPostgresStore(config, config.store, logger);
      store = shared;
      dataDir = {
        lock,
        ...await sharedIdentity(config, shared).catch(async (err) => {
          await shared.close();
          throw err;
        }),
      };
    }
  } catch (err) {
    return startFailed(err);
  }
  const router = buildRouter(settings, store);
  let listeners;
  try {
    listeners = await listen(settings, router, dataDir.identity);
  } catch (err) {
    await router.cluster.close();
    await store.close();
    return startFailed(err);
  }
  const trimmer = startMemoryTrim({ logger, metrics: router.metrics });
  // Old history goes at start and then hourly (--history-days; 0 keeps everything).
  const retention = startRetention(store, config.historyDays, logger);
  announce(settings, { dataDir, listeners, router, trimmer });
  await awaitStop(signals, logger);
  retention.stop();
  await retention.idle();
  await shutdown({ router, listeners, store, dataDir, trimmer });
  logger.info("bye");
  signals.dispose();
  return 0;
}

/** The exit code for a failed start, after saying why on stderr. */
function startFailed(err: unknown): number {
  if (!(err instanceof StartFailure)) throw err;
  for (const line of err.lines) console.error(`parley: ${line}`);
  return err.exitCode;
}

/**
 * Reads the flags and environment (or "help"), the KDF setting and the TLS files, and warns
 * about settings that weaken the server. The TLS files are read before anything starts, so a
 * missing or wrong file stops the server with a clear message.
 */
async function readSettings(args: string[]): Promise<Settings | "help"> {
  let config;
  try {
    config = loadConfig(args);
  } catch (err) {
    if (err instanceof ConfigError) throw new StartFailure([err.message], 2);
    throw err;
  }
  if (config === "help") return "help";
  const logger = createLogger(config.logLevel);
  let kdf;
  try {
    kdf = readKdfSetting(Deno.env.get(KDF_ENV));
  } catch (err) {
    if (err instanceof RangeError) throw new StartFailure([err.message], 2);
    throw err;
  }
  // Straight to stderr, whatever --log-level says: weaker password hashes must not go unnoticed.
  if (kdf.warning) console.error(`parley: ${kdf.warning}`);
  if (config.translateKeyFromFlag) {
    // The value itself is never printed, here or anywhere else.
    logger.warn(
      "the translation API key was given as --translate-key: every user of this machine can " +
        "read it in `ps` (and `deno task` printed it in its first line); set " +
        "PARLEY_TRANSLATE_KEY in the environment instead",
    );
  }
  // --tls-cert/--tls-key: both listeners speak TLS (docs/security.md §10).
  let tls: TlsFiles | undefined;
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    try {
      tls = await loadTlsFiles(config.tlsCert, config.tlsKey);
    } catch (err) {
      if (err instanceof TlsSetupError) throw new StartFailure([err.message]);
      throw err;
    }
  }
  return { config, logger, kdfIterations: kdf.iterations, tls };
}

/**
 * Creates the data directory if needed and locks it: one server per data directory (a second
 * one on the same SQLite store would split who is online; with PostgreSQL it still keeps two
 * nodes from sharing one directory's key files and lock).
 */
async function lockDataDirOf(config: Config): Promise<DataDirLock> {
  await Deno.mkdir(config.dataDir, { recursive: true });
  try {
    return lockDataDir(config.dataDir);
  } catch (err) {
    if (err instanceof DataDirLockedError) throw new StartFailure([err.message]);
    throw err;
  }
}

/**
 * Loads or creates the long-term identity that signs every JSON-mode handshake (docs/security.md
 * §7): `--identity-file`, or the one in the data directory.
 */
async function loadIdentity(config: Config): Promise<Omit<DataDir, "lock">> {
  try {
    const loaded = await loadOrCreateIdentity(config.dataDir, config.identityFile);
    return {
      identity: loaded.identity,
      createdIdentityAt: loaded.created ? loaded.path : undefined,
    };
  } catch (err) {
    if (isCryptoError(err)) throw new StartFailure([err.message]);
    throw err;
  }
}

/**
 * The identity of a node on a shared PostgreSQL store: every node must present the same one (a
 * client that pinned one node accepts whichever the load balancer picks), so the database keeps
 * its fingerprint. The first node makes it (or brings its own); a later node without the
 * identity file, or with another identity, stops with what to do, and makes no file.
 */
async function sharedIdentity(
  config: Config,
  store: PostgresStore,
): Promise<Omit<DataDir, "lock">> {
  const path = config.identityFile ?? `${config.dataDir}/${IDENTITY_FILE}`;
  const recorded = await store.identity();
  const give = "give every node the same identity file (--identity-file or " +
    "PARLEY_IDENTITY_FILE; copy it from the first node's data directory)";
  if (recorded !== undefined && !await fileExists(path)) {
    throw new StartFailure([
      `the nodes on this database present the identity ${recorded}, and ${path} does not ` +
      `exist: ${give}`,
    ]);
  }
  const loaded = await loadIdentity(config);
  const claimed = await store.claimIdentity(loaded.identity.fingerprint);
  if (claimed !== loaded.identity.fingerprint) {
    throw new StartFailure([
      `${path} is the identity ${loaded.identity.fingerprint}, but the nodes on this database ` +
      `present ${claimed}: clients that pinned them would refuse this node; ${give}`,
    ]);
  }
  return loaded;
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Opens the SQLite store with its at-rest data key (docs/security.md §9): never a fresh key for
 * a store that has a check value; a lost, malformed or wrong key stops start-up with what to do.
 */
async function openStore(config: Config, logger: Logger): Promise<SqliteStore> {
  const dbPath = storePath(config.dataDir);
  try {
    const loaded = await loadOrCreateDataKey(config.dataDir, {
      envValue: Deno.env.get(DATA_KEY_ENV),
      file: config.dataKeyFile,
      create: SqliteStore.storedKeyCheck(dbPath) === undefined,
    });
    if (loaded.created) {
      logger.warn(
        `created the data key ${loaded.path}: back it up apart from the database; without it ` +
          "stored messages cannot be read",
      );
    }
    const store = await SqliteStore.open({ path: dbPath, dataKey: loaded.key, logger });
    logger.info(
      `data key ${loaded.key.keyId} from ${loaded.source === "env" ? DATA_KEY_ENV : loaded.path}`,
    );
    return store;
  } catch (err) {
    if (!isCryptoError(err)) throw err;
    const lines = [`cannot open the store ${dbPath}: ${err.message}`];
    if (err.code === "wrong_data_key") {
      lines.push(
        "if the original key is lost for good, its messages cannot be recovered: move " +
          `${dbPath} (and its -wal file) aside to start with an empty store (accounts too).`,
      );
    }
    throw new StartFailure(lines);
  }
}

function storePath(dataDir: string): string {
  return `${dataDir}/parley.db`;
}

/**
 * Opens the PostgreSQL store that several nodes share (--store): migrated under an advisory
 * lock, with the data key every node must share (a fresh key only for a database that has none
 * yet). The URL is only ever shown without its password.
 */
async function openPostgresStore(
  config: Config,
  url: string,
  logger: Logger,
): Promise<PostgresStore> {
  const shown = redactUrl(url);
  try {
    const loaded = await loadOrCreateDataKey(config.dataDir, {
      envValue: Deno.env.get(DATA_KEY_ENV),
      file: config.dataKeyFile,
      create: await PostgresStore.storedKeyCheck(url) === undefined,
    });
    if (loaded.created) {
      logger.warn(
        `created the data key ${loaded.path}: every node on ${shown} needs this same key ` +
          `(copy the file, or set ${DATA_KEY_ENV}); back it up apart from the database`,
      );
    }
    const store = await PostgresStore.open({ url, dataKey: loaded.key, logger });
    logger.info(
      `data key ${loaded.key.keyId} from ${loaded.source === "env" ? DATA_KEY_ENV : loaded.path}`,
    );
    return store;
  } catch (err) {
    const lines = [`cannot open the store ${shown}: ${storeFailure(err)}`];
    if (isCryptoError(err, "wrong_data_key")) {
      lines.push(
        "every node that shares a PostgreSQL database must use the same data key: give this " +
          `node the key of the others (${DATA_KEY_ENV}, --data-key-file, or a copy of their ` +
          "data.key)",
      );
    }
    throw new StartFailure(lines);
  }
}

/** What stopped the PostgreSQL store from opening, for the operator (never a password). */
function storeFailure(err: unknown): string {
  if (isParleyError(err, "storage_unavailable")) {
    const cause = err.cause instanceof Error ? err.cause.message : String(err.cause);
    return `PostgreSQL cannot be reached (${cause})`;
  }
  if (isCryptoError(err) || err instanceof SchemaError) return err.message;
  // PostgreSQL's own refusals (authentication, no such database) name no password.
  if (err instanceof Error && err.name === "PostgresError") return err.message;
  throw err;
}

/**
 * The router over `store`, built by `composeRouter` as the tests build theirs, with the limits
 * and translation provider the config names. Each connection takes a file descriptor: it
 * admits no more than the open-file limit holds.
 */
function buildRouter(settings: Settings, store: Store): Router {
  const { config, logger } = settings;
  const fdLimit = openFileLimit();
  const fitted = fdLimit
    ? fitConnections(config.maxConnections, fdLimit.soft, openFileCount())
    : { maxConnections: config.maxConnections };
  if (fitted.warning) logger.warn(fitted.warning);
  if (fitted.note) logger.info(fitted.note);
  return composeRouter({
    store,
    logger,
    version: VERSION,
    limits: {
      ...limitsFromConfig(config),
      maxConnections: fitted.maxConnections,
      // The transports' own longest wait for a lazy frame: the watch allows for it.
      lazyWaitMs: LAZY_MAX_WAIT_MS,
    },
    // Only tests and the bench lower this, to keep hundreds of registrations fast.
    kdfIterations: settings.kdfIterations,
    translator: createTranslator({
      provider: config.translateProvider,
      url: config.translateUrl,
      apiKey: config.translateKey,
      onStartError: (err) =>
        logger.warn(
          "cannot reach the translation provider yet: messages go out untranslated until it " +
            "answers (it is asked again every 10 minutes, and at each message)",
          { provider: config.translateProvider, error: err.message },
        ),
    }),
    translateTimeoutMs: config.translateTimeout * 1000,
    textOriginals: !config.hideOriginals,
    // Connects in the background: a node whose Redis is down serves its own users meanwhile.
    bus: config.bus === undefined ? undefined : new RedisBus({ url: config.bus, logger }),
  });
}

/**
 * Starts the TCP listener, then the HTTP one (pages, assets and the WebSocket bridge to the
 * same router, server/http.ts) when the browser client is built (`deno task build`). A
 * listener that cannot start stops the server with what to do (which flag moves it).
 */
async function listen(
  settings: Settings,
  router: Router,
  identity: ServerIdentity,
): Promise<Listeners> {
  const { config, logger, tls } = settings;
  const tlsPair = tls && { cert: tls.cert, key: tls.key };
  let tcp;
  try {
    tcp = serveTcp({
      hostname: config.host,
      port: config.tcpPort,
      router,
      logger,
      identity,
      tls: tlsPair,
      allowPlaintext: config.allowPlaintext,
      trustedProxies: config.trustedProxies,
    });
  } catch (err) {
    throw listenFailure(err, "tcp", settings);
  }
  const assets = await loadAssets().catch((err: Error) => void logger.warn(err.message));
  if (!assets) return { tcp };
  try {
    const http = await serveHttp({
      hostname: config.host,
      port: config.httpPort,
      router,
      logger,
      assets,
      identity,
      tls: tlsPair,
      headerTimeoutMs: config.httpHeaderTimeout * 1000,
      idleTimeoutMs: config.httpIdleTimeout * 1000,
      trustedProxies: config.trustedProxies,
    });
    return { tcp, http };
  } catch (err) {
    tcp.stopAccepting();
    throw listenFailure(err, "http", settings);
  }
}

/** Why a listener could not start, said the way an operator can act on. */
function listenFailure(err: unknown, which: "tcp" | "http", settings: Settings): StartFailure {
  const { config, logger, tls } = settings;
  const port = which === "tcp" ? config.tcpPort : config.httpPort;
  const problem = describeTlsError(err, tls) ?? describeListenError(err, {
    hostname: config.host,
    port,
    flag: `--${which}-port`,
    env: `PARLEY_${which.toUpperCase()}_PORT`,
  });
  if (problem) return new StartFailure([problem]);
  logger.error(`cannot listen on ${config.host}:${port}`, { error: err });
  return new StartFailure([]);
}

/**
 * Says what is running where: the identity operators hand to users over another channel
 * (clients pin it, docs/security.md §7, §8), the listeners, translation, and the line a script
 * can wait for (tests read the port from it), last.
 */
function announce(
  settings: Settings,
  running: { dataDir: DataDir; listeners: Listeners; router: Router; trimmer?: MemoryTrimmer },
): void {
  const { config, logger, tls } = settings;
  const { dataDir, listeners: { tcp, http }, router, trimmer } = running;
  const { hostname, port } = tcp.addr;
  const store = config.store === undefined ? storePath(config.dataDir) : redactUrl(config.store);
  logger.info(`Parley ${VERSION} store=${store}`, {
    memoryTrim: trimmer ? trimmer.libc : "off",
  });
  const bus = router.cluster.bus;
  logger.info(
    bus instanceof RedisBus
      ? `bus: redis ${bus.address.redacted} channel ${bus.address.channel}, node ${bus.node}`
      : "bus: none (this node is the whole service; see --bus)",
  );
  console.log(
    `Parley identity: ${dataDir.identity.fingerprint}` +
      (dataDir.createdIdentityAt ? ` (new, in ${dataDir.createdIdentityAt})` : ""),
  );
  if (http) console.log(`Parley listening: ${tls ? "https" : "http"} ${http.url} (browser client)`);
  console.log(
    router.translation.provider === "off"
      ? "Parley translation: off (messages are delivered as written; see --translate-provider)"
      : `Parley translation: ${router.translation.provider} at ${
        withoutCredentials(config.translateUrl ?? DEFAULT_TRANSLATE_URLS[config.translateProvider])
      }, timeout ${config.translateTimeout} s`,
  );
  if (!tls && !config.allowPlaintext && !isLoopback(hostname)) {
    // docs/security.md §11: say so, rather than let remote nc users find out one by one.
    logger.warn(
      "text mode (plaintext) is limited to local users: connections from other machines " +
        "must use JSON mode (the terminal client or the browser); use --tls-cert/--tls-key " +
        "for text mode over TLS, or --allow-plaintext on a trusted network",
    );
  }
  console.log(
    tls
      ? `Parley listening: tcp ${hostname}:${port} (TLS: text for openssl s_client, JSON for clients)`
      : `Parley listening: tcp ${hostname}:${port} (text for nc, JSON for clients)`,
  );
}

/** A URL as it may be printed: no user, password or query (which may carry a key). */
function withoutCredentials(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname === "/" ? "" : u.pathname}`;
}

/** Waits for SIGINT or SIGTERM; a repeated one during the shutdown forces the exit. */
async function awaitStop(signals: StopSignals, logger: Logger): Promise<void> {
  const signal = await signals.stopped;
  signals.shuttingDown();
  logger.info(`${signal}: shutting down`);
}

/**
 * Stops accepting, says goodbye to every client (after messages waiting for a translation),
 * gives each listener a moment to finish, then closes the store and releases the data
 * directory.
 */
async function shutdown(
  running: {
    router: Router;
    listeners: Listeners;
    store: Store;
    dataDir: DataDir;
    trimmer?: MemoryTrimmer;
  },
): Promise<void> {
  const { router, listeners: { tcp, http }, store, dataDir, trimmer } = running;
  tcp.stopAccepting();
  await router.shutdown("server shutting down");
  if (http) await Promise.race([http.shutdown(), delay(LISTENER_DRAIN_MS)]);
  await Promise.race([tcp.drained(), delay(LISTENER_DRAIN_MS)]);
  await store.close();
  dataDir.lock.release();
  trimmer?.stop();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.exit(await main());
