import { SqliteStore } from "../lib/store/mod.ts";
import { runStoreConformance } from "./store_conformance.ts";

let dir = "";
runStoreConformance("SqliteStore", {
  async open() {
    dir = await Deno.makeTempDir({ prefix: "parley-store-" });
    return new SqliteStore({ path: `${dir}/parley.db` });
  },
  reopen() {
    return Promise.resolve(new SqliteStore({ path: `${dir}/parley.db` }));
  },
  async cleanup() {
    await Deno.remove(dir, { recursive: true });
  },
});
