/**
 * The store conformance suite on the store as the server uses it: the SQLite backend decorated
 * by `composeRouterOptions` (timed, user list cached, writes watched), the same function main.ts
 * and tests/helpers.ts build their router with. The decorators must not change what a store does.
 */
import { silentLogger } from "../lib/log.ts";
import { composeRouterOptions } from "../lib/router/mod.ts";
import { SqliteStore } from "../lib/store/mod.ts";
import type { DataKey } from "../lib/crypto/mod.ts";
import { runStoreConformance } from "./store_conformance.ts";

let dir = "";

async function composed(dataKey: DataKey) {
  const backend = await SqliteStore.open({ path: `${dir}/parley.db`, dataKey });
  return composeRouterOptions({ store: backend, logger: silentLogger }).store;
}

runStoreConformance("SqliteStore as composed for the server", {
  async open(dataKey) {
    dir = await Deno.makeTempDir({ prefix: "parley-store-" });
    return await composed(dataKey);
  },
  reopen: composed,
  async cleanup() {
    await Deno.remove(dir, { recursive: true });
  },
});
