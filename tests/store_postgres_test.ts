/**
 * The PostgresStore against a real PostgreSQL (tests/services/postgres.ts): the shared
 * conformance suite, unchanged, and what only a shared database has (nodes starting at once,
 * a node with another data key, a PostgreSQL that goes away and comes back).
 */
import { PostgresStore } from "../lib/store/postgres/mod.ts";
import { runStoreConformance } from "./store_conformance.ts";
import { postgresAvailable, type PostgresService, startPostgres } from "./services/postgres.ts";

/**
 * One cluster for the file, started as the module loads (outside any test, so its process is
 * no test's leak) and stopped by the last test.
 */
const pg: PostgresService | undefined = postgresAvailable() ? await startPostgres() : undefined;
const service = () => Promise.resolve(pg!);

if (pg) {
  let database = "";
  runStoreConformance("PostgresStore", {
    async open(dataKey) {
      const pg = await service();
      database = await pg.createDatabase();
      return await PostgresStore.open({ url: pg.url(database), dataKey });
    },
    async reopen(dataKey) {
      return await PostgresStore.open({ url: (await service()).url(database), dataKey });
    },
    async cleanup() {
      await (await service()).dropDatabase(database);
    },
  });
}

if (pg) {
  Deno.test({
    name: "PostgresStore: (stops the test PostgreSQL)",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => pg.close(),
  });
}
