import { SqliteStore } from "../lib/store/mod.ts";
import { runStoreConformance } from "./store_conformance.ts";

let dir = "";
runStoreConformance("SqliteStore", {
  async open(dataKey) {
    dir = await Deno.makeTempDir({ prefix: "parley-store-" });
    return await SqliteStore.open({ path: `${dir}/parley.db`, dataKey });
  },
  reopen(dataKey) {
    return SqliteStore.open({ path: `${dir}/parley.db`, dataKey });
  },
  async cleanup() {
    await Deno.remove(dir, { recursive: true });
  },
});
