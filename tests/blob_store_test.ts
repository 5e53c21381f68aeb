/**
 * The blob stores against the shared suite (tests/blob_store_conformance.ts): the data
 * directory's, and PostgreSQL's where PostgreSQL is installed (tests/services/postgres.ts).
 */
import postgres from "postgres";
import { DirBlobStore } from "../lib/files/blob_store.ts";
import { CHUNK_BYTES } from "../lib/files/sealed_blob.ts";
import { PostgresStore } from "../lib/store/postgres/mod.ts";
import { runBlobStoreConformance } from "./blob_store_conformance.ts";
import { filesHolding, listFiles } from "./file_helpers.ts";
import { postgresAvailable, type PostgresService, startPostgres } from "./services/postgres.ts";

/** Bytes of the data-directory blob before chunk `index`: header, then length ‖ sealed. */
const chunkOffset = (index: number) => 20 + index * (4 + CHUNK_BYTES + 29);

let dir = "";
runBlobStoreConformance("DirBlobStore", {
  async open(key) {
    dir = await Deno.makeTempDir({ prefix: "parley-blobs-" });
    return { blobs: new DirBlobStore(dir, key), peer: new DirBlobStore(dir, key) };
  },
  async tamper(address, index) {
    const path = new DirBlobStore(dir, undefined as never).pathOf(address);
    const bytes = await Deno.readFile(path);
    bytes[chunkOffset(index) + 4 + 20] ^= 1;
    await Deno.writeFile(path, bytes);
  },
  async staged() {
    return (await listFiles(`${dir}/tmp`)).length;
  },
  async contains(plain) {
    return (await filesHolding(dir, plain)).length > 0;
  },
  async close() {
    await Deno.remove(dir, { recursive: true });
  },
});

const pg: PostgresService | undefined = postgresAvailable() ? await startPostgres() : undefined;

if (pg) {
  let database = "";
  let stores: PostgresStore[] = [];
  const query = <T>(fn: (sql: postgres.Sql) => Promise<T>) => {
    const sql = postgres(pg.url(database), { max: 1, onnotice: () => {} });
    return fn(sql).finally(() => sql.end());
  };
  runBlobStoreConformance("PostgresBlobStore", {
    async open(key) {
      database = await pg.createDatabase();
      // Two nodes on one database.
      stores = [
        await PostgresStore.open({ url: pg.url(database), dataKey: key }),
        await PostgresStore.open({ url: pg.url(database), dataKey: key }),
      ];
      return { blobs: stores[0].blobStore(), peer: stores[1].blobStore() };
    },
    tamper: (address, index) =>
      query(async (sql) => {
        const [row] = await sql`SELECT c.body FROM blob_chunks c JOIN blobs b
          ON b.blob_id = c.blob_id WHERE b.address = ${address} AND c.idx = ${index}`;
        const body = new Uint8Array(row.body);
        body[20] ^= 1;
        await sql`UPDATE blob_chunks c SET body = ${body} FROM blobs b
          WHERE b.blob_id = c.blob_id AND b.address = ${address} AND c.idx = ${index}`;
      }),
    staged: () =>
      query(async (sql) => {
        const [row] = await sql`SELECT
          (SELECT count(*) FROM blob_uploads) +
          (SELECT count(*) FROM blob_chunks c
            WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.blob_id = c.blob_id)) AS n`;
        return Number(row.n);
      }),
    contains: (plain) =>
      query(async (sql) => {
        const [row] = await sql`SELECT count(*) AS n FROM blob_chunks
          WHERE position(${plain.slice(0, 32)}::bytea in body) > 0`;
        return Number(row.n) > 0;
      }),
    async close() {
      for (const store of stores) await store.close();
      await pg.dropDatabase(database);
    },
  });

  Deno.test({
    name: "PostgresBlobStore: (stops the test PostgreSQL)",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => pg.close(),
  });
} else {
  Deno.test({ name: "PostgresBlobStore: needs PostgreSQL (skipped)", ignore: true, fn() {} });
}
