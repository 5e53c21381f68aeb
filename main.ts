/**
 * Composition root: config -> store -> router -> listeners, and a graceful shutdown on
 * SIGINT/SIGTERM (stop accepting, say goodbye to every client, close the store).
 */
import { ConfigError, helpText, loadConfig } from "./lib/config.ts";
import { createLogger } from "./lib/log.ts";
import { Router } from "./lib/router/mod.ts";
import { SqliteStore } from "./lib/store/mod.ts";
import { serveTcp } from "./server/tcp.ts";
import { loadAssets } from "./server/assets.ts";
import { type HttpServer, serveHttp } from "./server/http.ts";

const VERSION = "0.1.0";

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
  // Listen for signals before anything else, so a stop during start-up is still graceful.
  const stopped = Promise.withResolvers<string>();
  const onSignal = (name: string) => () => stopped.resolve(name);
  const signals = [["SIGINT", onSignal("SIGINT")], ["SIGTERM", onSignal("SIGTERM")]] as const;
  for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);
  await Deno.mkdir(config.dataDir, { recursive: true });
  const dbPath = `${config.dataDir}/parley.db`;
  const store = new SqliteStore({ path: dbPath });
  const kdf = Deno.env.get("PARLEY_KDF_ITERATIONS");
  const router = new Router({
    store,
    logger,
    version: VERSION,
    limits: { loginTimeoutMs: config.loginTimeout * 1000 },
    // Only tests lower this, to keep hundreds of registrations fast; see tests/helpers.ts.
    kdfIterations: kdf ? Number(kdf) : undefined,
  });
  let tcp;
  try {
    tcp = serveTcp({ hostname: config.host, port: config.tcpPort, router, logger });
  } catch (err) {
    logger.error(`cannot listen on ${config.host}:${config.tcpPort}`, { error: err });
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
      });
    } catch (err) {
      logger.error(`cannot listen on ${config.host}:${config.httpPort}`, { error: err });
      tcp.stopAccepting();
      await store.close();
      return 1;
    }
  }

  const { hostname, port } = tcp.addr;
  logger.info(`Parley ${VERSION} store=${dbPath}`);
  if (http) console.log(`Parley listening: http ${http.url} (browser client)`);
  // One line a script can wait for; tests read the port from it.
  console.log(`Parley listening: tcp ${hostname}:${port} (text for nc, JSON for clients)`);

  const signal = await stopped.promise;
  for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);

  logger.info(`${signal}: shutting down`);
  tcp.stopAccepting();
  await router.shutdown("server shutting down");
  if (http) await Promise.race([http.shutdown(), new Promise((r) => setTimeout(r, 3000))]);
  await Promise.race([tcp.drained(), new Promise((r) => setTimeout(r, 3000))]);
  await store.close();
  logger.info("bye");
  return 0;
}

Deno.exit(await main());
