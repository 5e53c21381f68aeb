/**
 * Composition root: config -> store -> router -> listeners, and a graceful shutdown on
 * SIGINT/SIGTERM (stop accepting, say goodbye to every client, close the store).
 */
import { ConfigError, helpText, loadConfig } from "./lib/config.ts";
import { createLogger } from "./lib/log.ts";
import { Router } from "./lib/router/mod.ts";
import { SqliteStore } from "./lib/store/mod.ts";
import { StoreWriteHealth } from "./lib/store/write_health.ts";
import { isCryptoError } from "./lib/crypto/errors.ts";
import { DATA_KEY_ENV, loadOrCreateDataKey, loadOrCreateIdentity } from "./lib/crypto/key_files.ts";
import { serveTcp } from "./server/tcp.ts";
import { loadAssets } from "./server/assets.ts";
import { type HttpServer, serveHttp } from "./server/http.ts";
import { isLoopback } from "./server/plaintext_policy.ts";
import { DataDirLockedError, lockDataDir } from "./server/data_dir_lock.ts";
import { describeTlsError, loadTlsFiles, type TlsFiles, TlsSetupError } from "./server/tls.ts";
import { MetricsRegistry } from "./lib/metrics/mod.ts";
import { startMemoryTrim } from "./server/memory_trim.ts";
import { SHUTDOWN_GRACE_SECONDS, watchStopSignals } from "./server/stop_signals.ts";
import { describeListenError } from "./server/listen_error.ts";
import { fitConnections, openFileCount, openFileLimit } from "./server/fd_limit.ts";
import {
  APERTIUM_BASE_URL,
  createTranslator,
  GOOGLE_BASE_URL,
} from "./lib/translate/providers/mod.ts";
import { TranslationService } from "./lib/translate/service.ts";
import { KDF_ENV, readKdfSetting } from "./lib/accounts/kdf_setting.ts";

const VERSION = "0.1.0";

/** Where a provider is reached when no --translate-url is given (LibreTranslate needs one). */
const DEFAULT_TRANSLATE_URLS: Record<string, string> = {
  google: GOOGLE_BASE_URL,
  apertium: APERTIUM_BASE_URL,
};

/** A URL as it may be printed: no user, password or query (which may carry a key). */
function withoutCredentials(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname === "/" ? "" : u.pathname}`;
}

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(Deno.args);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`parley: ${err.message}`);
    return 2;
  }
  if (config === "help") {
    console.log(helpText());
    return 0;
  }
  const logger = createLogger(config.logLevel);
  let kdf;
  try {
    kdf = readKdfSetting(Deno.env.get(KDF_ENV));
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    console.error(`parley: ${err.message}`);
    return 2;
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
  // --tls-cert/--tls-key: both listeners speak TLS (docs/security.md §10). Read before anything
  // starts, so a missing or wrong file stops the server with a clear message.
  let tls: TlsFiles | undefined;
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    try {
      tls = await loadTlsFiles(config.tlsCert, config.tlsKey);
    } catch (err) {
      if (!(err instanceof TlsSetupError)) throw err;
      console.error(`parley: ${err.message}`);
      return 1;
    }
  }
  const tlsPair = tls && { cert: tls.cert, key: tls.key };
  // Listen for signals before anything else, so a stop during start-up is still graceful.
  // They stay installed until the end: a repeated signal must not cut the shutdown short. The
  // shutdown lets messages waiting for a translation go out first, so it may take that long.
  const signals = watchStopSignals({
    logger,
    graceMs: Math.max(SHUTDOWN_GRACE_SECONDS, config.translateTimeout + 5) * 1000,
  });
  await Deno.mkdir(config.dataDir, { recursive: true });
  // One server per data directory: a second one on the same store would split who is online.
  let dataDirLock;
  try {
    dataDirLock = lockDataDir(config.dataDir);
  } catch (err) {
    if (!(err instanceof DataDirLockedError)) throw err;
    console.error(`parley: ${err.message}`);
    return 1;
  }
  // The long-term identity that signs every JSON-mode handshake (docs/security.md §7).
  let identity;
  try {
    identity = await loadOrCreateIdentity(config.dataDir);
  } catch (err) {
    if (!isCryptoError(err)) throw err;
    console.error(`parley: ${err.message}`);
    return 1;
  }
  const dbPath = `${config.dataDir}/parley.db`;
  // The at-rest data key (docs/security.md §9): never a fresh key for a store that has a check
  // value; a lost, malformed or wrong key stops start-up with what to do.
  let store: SqliteStore;
  try {
    const storedCheck = SqliteStore.storedKeyCheck(dbPath);
    const loaded = await loadOrCreateDataKey(config.dataDir, {
      envValue: Deno.env.get(DATA_KEY_ENV),
      create: storedCheck === undefined,
    });
    if (loaded.created) {
      logger.warn(
        `created the data key ${loaded.path}: back it up apart from the database; without it ` +
          "stored messages cannot be read",
      );
    }
    store = await SqliteStore.open({ path: dbPath, dataKey: loaded.key, logger });
    logger.info(
      `data key ${loaded.key.keyId} from ${loaded.source === "env" ? DATA_KEY_ENV : loaded.path}`,
    );
  } catch (err) {
    if (!isCryptoError(err)) throw err;
    console.error(`parley: cannot open the store ${dbPath}: ${err.message}`);
    if (err.code === "wrong_data_key") {
      console.error(
        "parley: if the original key is lost for good, its messages cannot be recovered: move " +
          `${dbPath} (and its -wal file) aside to start with an empty store (accounts too).`,
      );
    }
    return 1;
  }
  // Each connection takes a file descriptor: admit no more than the open-file limit holds.
  const fdLimit = openFileLimit();
  const fitted = fdLimit
    ? fitConnections(config.maxConnections, fdLimit.soft, openFileCount())
    : { maxConnections: config.maxConnections };
  if (fitted.warning) logger.warn(fitted.warning);
  const metrics = new MetricsRegistry();
  // One tracker for every writer of the store, so a full disk is logged once per episode.
  const storeWrites = new StoreWriteHealth(logger);
  const translation = new TranslationService({
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
    cache: storeWrites.wrap(store),
    logger,
    metrics,
    timeoutMs: config.translateTimeout * 1000,
  });
  const router = new Router({
    store,
    storeWrites,
    logger,
    version: VERSION,
    limits: {
      loginTimeoutMs: config.loginTimeout * 1000,
      maxConnections: fitted.maxConnections,
      maxConnectionsPerIp: config.maxConnectionsPerIp,
      newConnectionsPerMinute: config.connectionsPerMinute,
      maxMessageBytes: config.maxMessageBytes,
      ratePerSec: config.messageRate,
      rateBurst: config.messageBurst,
      maxQueuedBytes: config.maxQueuedKib * 1024,
      slowReaderMs: config.slowReaderTimeout * 1000,
    },
    // Only tests and the bench lower this, to keep hundreds of registrations fast.
    kdfIterations: kdf.iterations,
    metrics,
    translation,
    textOriginals: !config.hideOriginals,
  });
  // A listener that cannot start stops the server with what to do (which flag moves it).
  const reportListenError = (err: unknown, which: "tcp" | "http") => {
    const port = which === "tcp" ? config.tcpPort : config.httpPort;
    const problem = describeTlsError(err, tls) ?? describeListenError(err, {
      hostname: config.host,
      port,
      flag: `--${which}-port`,
      env: `PARLEY_${which.toUpperCase()}_PORT`,
    });
    if (problem) console.error(`parley: ${problem}`);
    else logger.error(`cannot listen on ${config.host}:${port}`, { error: err });
  };
  let tcp;
  try {
    tcp = serveTcp({
      hostname: config.host,
      port: config.tcpPort,
      router,
      logger,
      identity: identity.identity,
      tls: tlsPair,
      allowPlaintext: config.allowPlaintext,
    });
  } catch (err) {
    reportListenError(err, "tcp");
    await store.close();
    return 1;
  }

  // Browser client: pages, assets and the WebSocket bridge to the same router (server/http.ts).
  // Without built assets (`deno task build`) the server still runs, for TCP clients only.
  let http: HttpServer | undefined;
  const assets = await loadAssets().catch((err: Error) => void logger.warn(err.message));
  if (assets) {
    try {
      http = await serveHttp({
        hostname: config.host,
        port: config.httpPort,
        router,
        logger,
        assets,
        identity: identity.identity,
        tls: tlsPair,
        headerTimeoutMs: config.httpHeaderTimeout * 1000,
        idleTimeoutMs: config.httpIdleTimeout * 1000,
      });
    } catch (err) {
      reportListenError(err, "http");
      tcp.stopAccepting();
      await store.close();
      return 1;
    }
  }

  const { hostname, port } = tcp.addr;
  const trimmer = startMemoryTrim({ logger, metrics });
  logger.info(`Parley ${VERSION} store=${dbPath}`, {
    memoryTrim: trimmer ? trimmer.libc : "off",
  });
  // Operators give this to users over another channel; clients pin it (docs/security.md §7, §8).
  console.log(
    `Parley identity: ${identity.identity.fingerprint}` +
      (identity.created ? ` (new, in ${identity.path})` : ""),
  );
  if (http) console.log(`Parley listening: ${tls ? "https" : "http"} ${http.url} (browser client)`);
  console.log(
    translation.provider === "off"
      ? "Parley translation: off (messages are delivered as written; see --translate-provider)"
      : `Parley translation: ${translation.provider} at ${
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
  // One line a script can wait for; tests read the port from it.
  console.log(
    tls
      ? `Parley listening: tcp ${hostname}:${port} (TLS: text for openssl s_client, JSON for clients)`
      : `Parley listening: tcp ${hostname}:${port} (text for nc, JSON for clients)`,
  );

  const signal = await signals.stopped;
  signals.shuttingDown();
  logger.info(`${signal}: shutting down`);
  tcp.stopAccepting();
  await router.shutdown("server shutting down");
  if (http) await Promise.race([http.shutdown(), new Promise((r) => setTimeout(r, 3000))]);
  await Promise.race([tcp.drained(), new Promise((r) => setTimeout(r, 3000))]);
  await store.close();
  dataDirLock.release();
  trimmer?.stop();
  logger.info("bye");
  signals.dispose();
  return 0;
}

Deno.exit(await main());
