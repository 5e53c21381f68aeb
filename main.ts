/**
 * Composition root, in named steps: read the config, open the data directory (its lock, the
 * identity), open the store, build the router, listen, wait for SIGINT/SIGTERM, then shut down
 * gracefully (stop accepting, say goodbye to every client, close the store).
 */
import { LAZY_MAX_WAIT_MS } from "./server/turn.ts";
import { FileService } from "./lib/files/service.ts";
import { type Config, ConfigError, helpText, limitsFromConfig, loadConfig } from "./lib/config.ts";
import { createLogger, type Logger, withFields } from "./lib/log.ts";
import { RedisBus } from "./lib/bus/redis.ts";
import { composeRouter, type Router } from "./lib/router/mod.ts";
import { SqliteStore, type Store } from "./lib/store/mod.ts";
import { PostgresStore, redactUrl, SchemaError } from "./lib/store/postgres/mod.ts";
import { isParleyError } from "./lib/errors.ts";
import { startRetention } from "./lib/router/retention.ts";
import { type DataKey, isCryptoError, type ServerIdentity } from "./lib/crypto/mod.ts";
import { openSslAead } from "./lib/crypto/_openssl.ts";
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
import {
  linkToMain,
  type WorkerLink,
  type WorkerPlace,
  workerPlace,
} from "./server/worker_link.ts";
import { Supervisor, WorkerStartFailure } from "./server/supervisor.ts";
import { shareMetrics } from "./server/worker_metrics.ts";
import type { Bus } from "./lib/bus/mod.ts";
import { RelayBus, type RelayPort } from "./lib/bus/relay_bus.ts";
import { pathExists } from "./lib/path_exists.ts";

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

/** What the start-up lines say: where the server listens and what it runs. */
interface Running {
  dataDir: DataDir;
  tcp: Deno.NetAddr | { hostname: string; port: number };
  /** The browser client's address; absent without built assets. */
  httpUrl?: string;
  /** The translation provider in use, or "off". */
  translation: string;
  trimmer?: MemoryTrimmer;
  /** Listeners sharing the ports (`--workers`). */
  workers: number;
  /** The bus to the other nodes or workers, as the log says it (`describeBus`). */
  bus: string;
}

async function main(): Promise<number> {
  // A worker listens to the main thread before its first await: a message that arrives while
  // nothing listens (its start, while the TLS files are read) is lost.
  const place = workerPlace();
  const link = place && linkToMain();
  let settings;
  try {
    settings = await readSettings(Deno.args);
  } catch (err) {
    if (link) return workerFailed(link, err);
    return startFailed(err);
  }
  if (settings === "help") {
    console.log(helpText());
    return 0;
  }
  // A worker of `--workers N` (server/supervisor.ts): the main thread holds the data directory.
  if (link) return await serveAsWorker(settings, place, link);
  const { config, logger } = settings;
  // Listen for signals before anything else, so a stop during start-up is still graceful.
  // They stay installed until the end: a repeated signal must not cut the shutdown short. The
  // shutdown lets messages waiting for a translation go out first, so it may take that long.
  const signals = watchStopSignals({
    logger,
    graceMs: Math.max(SHUTDOWN_GRACE_SECONDS, config.translateTimeout + 5) * 1000,
  });
  let dataDir, store, dataKey;
  try {
    const lock = await lockDataDirOf(config);
    if (config.store === undefined) {
      dataDir = { lock, ...await loadIdentity(config) };
      ({ store, dataKey } = await openStore(config, logger));
    } else {
      const shared = await openPostgresStore(config, config.store, logger);
      ({ store, dataKey } = shared);
      dataDir = {
        lock,
        ...await sharedIdentity(config, shared.store).catch(async (err) => {
          await shared.store.close();
          throw err;
        }),
      };
    }
  } catch (err) {
    return startFailed(err);
  }
  if (config.workers > 1) {
    return await superviseWorkers(settings, { signals, dataDir, store, dataKey });
  }
  const router = buildRouter(settings, store, dataKey);
  let listeners;
  try {
    listeners = await listen(settings, router, dataDir.identity);
  } catch (err) {
    await router.cluster.close();
    router.admission.close();
    await store.close();
    return startFailed(err);
  }
  const trimmer = startMemoryTrim({ logger, metrics: router.metrics });
  // Old history goes at start and then hourly (--history-days; 0 keeps everything), and the
  // files nothing refers to any more with it.
  const retention = startRetention(store, config.historyDays, logger, { files: router.files });
  announce(settings, {
    dataDir,
    tcp: listeners.tcp.addr,
    httpUrl: listeners.http?.url,
    translation: router.translation.provider,
    trimmer,
    workers: 1,
    bus: describeBus(router.cluster.bus, 1),
  });
  await awaitStop(signals, logger);
  retention.stop();
  await retention.idle();
  await shutdown({ router, listeners, store, dataDir, trimmer });
  logger.info("bye");
  signals.dispose();
  return 0;
}

/**
 * `--workers N`: the main thread keeps the data directory's lock, the keys and the store it
 * migrated, runs the history retention once for all, and supervises N workers that serve on the
 * same ports (server/supervisor.ts). SIGINT/SIGTERM stops every worker gracefully (each client
 * gets its goodbye), then the process exits 0.
 */
async function superviseWorkers(
  settings: Settings,
  held: { signals: StopSignals; dataDir: DataDir; store: Store; dataKey: DataKey },
): Promise<number> {
  const { config, logger } = settings;
  const { signals, dataDir, store, dataKey } = held;
  const release = async () => {
    await store.close();
    dataDir.lock.release();
  };
  if (!unstableNetGranted()) {
    await release();
    return startFailed(
      new StartFailure([
        `--workers ${config.workers} shares the ports between workers (SO_REUSEPORT), which ` +
        "needs Deno's --unstable-net flag: start with `deno task start` (it passes it), add " +
        "--unstable-net to your `deno run`, or use --workers 1",
      ], 2),
    );
  }
  let ports;
  try {
    ports = await claimPorts(settings);
  } catch (err) {
    await release();
    return startFailed(err);
  }
  const supervisor = new Supervisor({
    count: config.workers,
    module: new URL(import.meta.url),
    ...ports,
    logger,
  });
  let first;
  try {
    first = await supervisor.start();
  } catch (err) {
    await release();
    if (err instanceof WorkerStartFailure) {
      return startFailed(new StartFailure(err.lines, err.exitCode));
    }
    throw err;
  }
  // Process-wide (malloc_trim): once, here, not per worker.
  const trimmer = startMemoryTrim({ logger });
  // Once for all workers, here: old history, and the files no message refers to any more.
  const files = new FileService({ store, logger, ...fileSettings(config, dataKey, store) });
  const retention = startRetention(store, config.historyDays, logger, { files });
  const unhook = crashHook(supervisor);
  announce(settings, {
    dataDir,
    tcp: first.tcp,
    httpUrl: first.httpUrl,
    translation: first.translation,
    trimmer,
    workers: config.workers,
    bus: first.bus,
  });
  await awaitStop(signals, logger);
  unhook();
  retention.stop();
  await retention.idle();
  await supervisor.stop();
  await release();
  trimmer?.stop();
  logger.info("bye");
  signals.dispose();
  return 0;
}

/**
 * Checks that the ports are free, by listening on each without SO_REUSEPORT for a moment: the
 * kernel lets any process of the same user join a group of SO_REUSEPORT listeners, so a second
 * Parley (another data directory, the same port) would otherwise start and silently take half
 * the connections. Port 0 becomes the free port found, which every worker then shares. The HTTP
 * port counts only when the browser client is built, as it does for one listener.
 */
async function claimPorts(settings: Settings): Promise<{ tcpPort: number; httpPort: number }> {
  const { config } = settings;
  const probe = (port: number, which: "tcp" | "http") => {
    try {
      const listener = Deno.listen({ hostname: config.host, port, transport: "tcp" });
      const claimed = (listener.addr as Deno.NetAddr).port;
      listener.close();
      return claimed;
    } catch (err) {
      throw listenFailure(err, which, settings);
    }
  };
  const tcpPort = probe(config.tcpPort, "tcp");
  const built = await loadAssets().then(() => true, () => false);
  return { tcpPort, httpPort: built ? probe(config.httpPort, "http") : config.httpPort };
}

/** Whether Deno runs with --unstable-net (its unstable network calls exist only then). */
function unstableNetGranted(): boolean {
  return typeof (Deno as { listenDatagram?: unknown }).listenDatagram === "function";
}

/**
 * Test hook, only with PARLEY_TEST_HOOKS=1: SIGUSR2 makes worker 1 die of an uncaught error,
 * so the tests can watch a crash and the restart. Returns how to remove it.
 */
function crashHook(supervisor: Supervisor): () => void {
  if (Deno.env.get("PARLEY_TEST_HOOKS") !== "1") return () => {};
  const crash = () => supervisor.crash(1);
  Deno.addSignalListener("SIGUSR2", crash);
  return () => Deno.removeSignalListener("SIGUSR2", crash);
}

/**
 * One worker of `--workers N`: a whole server on the shared ports, with its own store
 * connection and router. It reads the keys the main thread made, listens on the ports the main
 * thread gives, and stops gracefully when the main thread says so.
 */
async function serveAsWorker(
  main: Settings,
  place: WorkerPlace,
  link: WorkerLink,
): Promise<number> {
  // Every line a worker logs says which one it is.
  const settings = { ...main, logger: withFields(main.logger, { worker: place.id }) };
  const { config, logger } = settings;
  const ports = await link.started;
  let identity, store, dataKey;
  try {
    identity = (await loadIdentity(config)).identity;
    // The main thread migrated the store and checked the key and the identity against it.
    ({ store, dataKey } = config.store === undefined
      ? await openStore(config, logger)
      : await openPostgresStore(config, config.store, logger));
  } catch (err) {
    return workerFailed(link, err);
  }
  const router = buildRouter(settings, store, dataKey, {
    place,
    // Unless --bus names Redis, where each worker is a node of the service.
    bus: config.bus === undefined
      ? new RelayBus({
        port: globalThis as unknown as RelayPort,
        node: ports.bus.node,
        onError: busHandlerFailed(logger),
      })
      : undefined,
  });
  const metrics = shareMetrics({
    channel: ports.bus.channel,
    place,
    render: () => router.metrics.render(),
  });
  let listeners;
  try {
    const shared = {
      ...settings,
      config: { ...config, tcpPort: ports.tcpPort, httpPort: ports.httpPort },
    };
    listeners = await listen(shared, router, identity, { reusePort: true, metrics: metrics.all });
  } catch (err) {
    metrics.close();
    // Its heartbeats and the bus go with it, and the admission's summaries.
    await router.cluster.close();
    router.admission.close();
    await store.close();
    return workerFailed(link, err);
  }
  link.send({
    type: "listening",
    tcp: { hostname: listeners.tcp.addr.hostname, port: listeners.tcp.addr.port },
    httpUrl: listeners.http?.url,
    httpPort: listeners.http?.addr.port,
    translation: router.translation.provider,
    bus: describeBus(router.cluster.bus, place.of),
  });
  await link.stopRequested;
  await shutdown({ router, listeners, store });
  metrics.close();
  link.send({ type: "stopped" });
  return 0;
}

/** Tells the main thread why this worker cannot start (a StartFailure's lines). */
function workerFailed(link: WorkerLink, err: unknown): number {
  if (!(err instanceof StartFailure)) throw err;
  link.send({ type: "failed", lines: err.lines, exitCode: err.exitCode });
  return err.exitCode;
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
  // Said once, by the main thread, not again by each worker.
  const mainThread = workerPlace() === undefined;
  // Straight to stderr, whatever --log-level says: weaker password hashes must not go unnoticed.
  if (kdf.warning && mainThread) console.error(`parley: ${kdf.warning}`);
  if (config.translateKeyFromFlag && mainThread) {
    // The value itself is never printed, here or anywhere else.
    logger.warn(
      "the translation API key was given as --translate-key: every user of this machine can " +
        "read it in `ps` (and `deno task` printed it in its first line); set " +
        "PARLEY_TRANSLATE_KEY in the environment instead",
    );
  }
  if (config.iceCredentialFromFlag) {
    logger.warn(
      "a TURN credential was given in --ice-servers: every user of this machine can read it in " +
        "`ps`; set PARLEY_ICE_SERVERS in the environment instead",
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
  if (recorded !== undefined && !await pathExists(path)) {
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

/**
 * Opens the SQLite store with its at-rest data key (docs/security.md §9): never a fresh key for
 * a store that has a check value; a lost, malformed or wrong key stops start-up with what to do.
 */
async function openStore(
  config: Config,
  logger: Logger,
): Promise<{ store: SqliteStore; dataKey: DataKey }> {
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
    return { store, dataKey: loaded.key };
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
): Promise<{ store: PostgresStore; dataKey: DataKey }> {
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
    return { store, dataKey: loaded.key };
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
/** Where shared files live and how big they may be (docs/security.md §9.4). */
function fileSettings(config: Config, dataKey: DataKey, store: Store) {
  return {
    dataKey,
    dir: `${config.dataDir}/files`,
    // On PostgreSQL their bytes are in the database too, so every node serves every file.
    blobs: store instanceof PostgresStore ? store.blobStore() : undefined,
    maxFileBytes: config.maxFileMib * 1024 * 1024,
    quotaBytes: config.fileQuotaMib * 1024 * 1024,
  };
}

function buildRouter(
  settings: Settings,
  store: Store,
  dataKey: DataKey,
  worker?: { place: WorkerPlace; bus?: Bus },
): Router {
  const place = worker?.place;
  const { config, logger } = settings;
  const fdLimit = openFileLimit();
  const fitted = fdLimit
    ? fitConnections(
      config.maxConnections,
      fdLimit.soft,
      openFileCount(),
      config.maxConnectionsGiven,
    )
    : { maxConnections: config.maxConnections };
  // Said once, by the first worker: the limit is the process's, shared by all.
  if (fitted.warning && (place?.id ?? 1) === 1) logger.warn(fitted.warning);
  if (fitted.note && (place?.id ?? 1) === 1) logger.debug(fitted.note);
  // --max-connections and the descriptors are the whole process's: each worker takes its share.
  const maxConnections = Math.ceil(fitted.maxConnections / (place?.of ?? 1));
  return composeRouter({
    store,
    logger,
    version: VERSION,
    limits: {
      ...limitsFromConfig(config),
      maxConnections,
      // The transports' own longest wait for a lazy frame: the watch allows for it.
      lazyWaitMs: LAZY_MAX_WAIT_MS,
    },
    // Only tests and the bench lower this, to keep hundreds of registrations fast.
    kdfIterations: settings.kdfIterations,
    iceServers: config.iceServers,
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
    // Redis connects in the background: a node whose Redis is down serves its own users
    // meanwhile. With --bus each worker is a node of its own there; without, the workers of this
    // process talk over the in-machine bus.
    bus: config.bus === undefined ? worker?.bus : new RedisBus({ url: config.bus, logger }),
    // Shared files, sealed under the data key (docs/security.md §9.4).
    files: fileSettings(config, dataKey, store),
  });
}

/** The bus as the start-up log names it (never Redis's password). */
function describeBus(bus: Bus | undefined, workers: number): string {
  if (bus instanceof RedisBus) {
    const { redacted, channel } = bus.address;
    return `redis ${redacted} channel ${channel}, ` +
      (workers > 1 ? `each of the ${workers} workers a node` : `node ${bus.node}`);
  }
  if (bus instanceof RelayBus) return `in-machine, between the ${workers} workers`;
  return "none (this node is the whole service; see --bus)";
}

/** Where a worker reports a bus handler that threw (a bug: the message is then lost here). */
function busHandlerFailed(logger: Logger): (err: unknown) => void {
  return (err) => logger.error("a bus message could not be handled", { error: err });
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
  worker: { reusePort?: boolean; metrics?: () => Promise<string> } = {},
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
      reusePort: worker.reusePort,
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
      ...worker,
      trustedProxies: config.trustedProxies,
    });
    // Links and one-time URLs for files point here, or where the load balancer is.
    if (router.files) {
      router.files.baseUrl = config.publicUrl === undefined ? http.url : `${config.publicUrl}/`;
    }
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
function announce(settings: Settings, running: Running): void {
  const { config, logger, tls } = settings;
  const { dataDir, tcp: { hostname, port }, httpUrl, translation, trimmer, workers } = running;
  const store = config.store === undefined ? storePath(config.dataDir) : redactUrl(config.store);
  logger.info(`Parley ${VERSION} store=${store}`, {
    memoryTrim: trimmer ? trimmer.libc : "off",
    // Frames sealed and opened with OpenSSL, or WebCrypto without it (lib/crypto/_openssl.ts).
    frameCrypto: openSslAead()?.library ?? "webcrypto",
    workers,
  });
  logger.info(`bus: ${running.bus}`);
  console.log(
    `Parley identity: ${dataDir.identity.fingerprint}` +
      (dataDir.createdIdentityAt ? ` (new, in ${dataDir.createdIdentityAt})` : ""),
  );
  if (httpUrl) {
    console.log(`Parley listening: ${tls ? "https" : "http"} ${httpUrl} (browser client)`);
  }
  console.log(
    translation === "off"
      ? "Parley translation: off (messages are delivered as written; see --translate-provider)"
      : `Parley translation: ${translation} at ${
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
    /** Absent in a worker: the main thread holds the data directory. */
    dataDir?: DataDir;
    trimmer?: MemoryTrimmer;
  },
): Promise<void> {
  const { router, listeners: { tcp, http }, store, dataDir, trimmer } = running;
  tcp.stopAccepting();
  await router.shutdown("server shutting down");
  if (http) await Promise.race([http.shutdown(), delay(LISTENER_DRAIN_MS)]);
  await Promise.race([tcp.drained(), delay(LISTENER_DRAIN_MS)]);
  await store.close();
  dataDir?.lock.release();
  trimmer?.stop();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const code = await main();
// A worker ends its own thread only; Deno.exit there would not say "stopped" first.
if (workerPlace()) (globalThis as unknown as { close(): void }).close();
else Deno.exit(code);
