/**
 * Files on several nodes (issue 17 + 18): two Parley processes on one PostgreSQL behave as one
 * server. A file uploaded through one is downloaded through the other, with a one-time token
 * issued by the first, and that token works once across both. The bytes live in the database,
 * sealed: neither node's data directory holds them.
 */
import assert from "node:assert/strict";
import { build } from "../build.ts";
import { connectTcp } from "../lib/client/mod.ts";
import type { MessageEvent } from "../lib/protocol/types.ts";
import { PASSWORD, type TestServer, TextSocket } from "./helpers.ts";
import { textUser } from "./raw.ts";
import { cookieFor, listFiles, randomBytes, sha256, upload } from "./file_helpers.ts";
import { type ServerProcess, spawnServer } from "./process_helpers.ts";
import { postgresAvailable, type PostgresService, startPostgres } from "./services/postgres.ts";

const pg: PostgresService | undefined = postgresAvailable() ? await startPostgres() : undefined;

/** A response with its body read away (so nothing is left open). */
async function drain(res: Response): Promise<Response> {
  await res.body?.cancel();
  return res;
}

/** The path and query of a URL, on another node's base URL (as HAProxy would route it). */
const on = (base: string, url: string) => {
  const u = new URL(url);
  return `${base}${u.pathname}${u.search}`;
};

Deno.test({
  name: "two nodes on PostgreSQL: a file uploaded through one downloads through the other, " +
    "with a token of the first that works once across both",
  ignore: !pg,
  async fn() {
    await build({ ifStale: true, quiet: true });
    const url = pg!.url(await pg!.createDatabase("parley_files"));
    const dirs = await Promise.all(
      ["a", "b"].map((n) => Deno.makeTempDir({ prefix: `parley-files-${n}-` })),
    );
    const nodes: ServerProcess[] = [];
    try {
      // Behind a load balancer: links name its address, not the node's.
      nodes.push(
        await spawnServer(dirs[0], ["--store", url, "--public-url", "https://chat.example.test/"]),
      );
      nodes.push(
        await spawnServer(dirs[1], [
          "--store",
          url,
          "--identity-file",
          `${dirs[0]}/identity_ed25519.pem`,
          "--data-key-file",
          `${dirs[0]}/data.key`,
        ]),
      );
      const [a, b] = nodes;
      assert.ok(a.httpUrl && b.httpUrl, `no HTTP listener:\n${a.output()}`);
      const alice = await connectTcp({ port: a.tcpPort, verifyIdentity: a.pin });
      await alice.register("alice", PASSWORD);
      const bob = await connectTcp({ port: a.tcpPort, verifyIdentity: a.pin });
      await bob.register("bob", PASSWORD);

      // Uploaded through node a, with alice's browser sign-in there.
      const bytes = randomBytes(1024 * 1024 + 77);
      const up = await upload(a.httpUrl, await cookieFor(a.httpUrl, "alice"), "plan.bin", bytes);
      assert.equal(up.status, 201, JSON.stringify(up.body));
      const id = (up.body.file as { id: string }).id;
      const arrived = bob.nextOf("message");
      await alice.send("bob", "the plan", undefined, id);
      assert.equal(((await arrived) as MessageEvent).file?.id, id);

      // A token issued by node a, used on node b: the bytes are there.
      const token = await bob.fileToken("download", id);
      assert.ok(
        token.url.startsWith(`https://chat.example.test/api/files/${id}?token=`),
        token.url,
      );
      const got = await fetch(on(b.httpUrl, token.url));
      assert.equal(got.status, 200);
      assert.equal(sha256(new Uint8Array(await got.arrayBuffer())), sha256(bytes));
      // Used once: neither node takes it again.
      for (const base of [a.httpUrl, b.httpUrl]) {
        const again = await fetch(on(base, token.url));
        assert.equal(again.status, 401, base);
        assert.match((await again.json()).error.message, /used already or has expired/);
      }
      // Two requests with one token at once, one on each node: exactly one gets the file.
      const race = await bob.fileToken("download", id);
      const answers = await Promise.all(
        [a.httpUrl, b.httpUrl].map(async (base) => {
          const res = await fetch(on(base, race.url));
          await res.body?.cancel();
          return res.status;
        }),
      );
      assert.deepEqual(answers.toSorted(), [200, 401]);
      // A browser signed in on node b reads it too; an upload token of a works on b.
      const bobCookie = await cookieFor(b.httpUrl, "bob");
      const viaCookie = await fetch(`${b.httpUrl}/api/files/${id}`, {
        headers: { cookie: bobCookie },
      });
      assert.equal(sha256(new Uint8Array(await viaCookie.arrayBuffer())), sha256(bytes));
      const upToken = await bob.fileToken("upload");
      const second = await fetch(on(b.httpUrl, `${upToken.url}&name=reply.txt`), {
        method: "POST",
        body: new TextEncoder().encode("got it"),
      });
      assert.equal(second.status, 201);
      // An nc user on node a: the link in their line works on node b, once.
      const server = { text: () => TextSocket.connect(a.tcpPort) } as unknown as TestServer;
      const carol = await textUser(server, "carol");
      await alice.send("carol", "for you", undefined, id);
      const line = await carol.waitFor(/\[file\]/);
      const link = line.match(/plan\.bin \(1 MiB\) (https:\/\/chat\.example\.test\/\S+token=\S+)$/)
        ?.[1];
      assert.ok(link, line);
      const viaLink = await fetch(on(b.httpUrl, link));
      assert.equal(viaLink.status, 200);
      assert.equal(sha256(new Uint8Array(await viaLink.arrayBuffer())), sha256(bytes));
      assert.equal((await fetch(on(a.httpUrl, link)).then(drain)).status, 401);
      carol.close();
      // Nothing of the files in either data directory: they are in the database.
      for (const dir of dirs) assert.deepEqual(await listFiles(`${dir}/files`), []);
      alice.close();
      bob.close();
      await Promise.all([alice.closed, bob.closed]);
    } finally {
      for (const node of nodes) await node.stop("SIGTERM");
      for (const dir of dirs) await Deno.remove(dir, { recursive: true });
    }
  },
});

if (pg) {
  Deno.test({
    name: "files on nodes: (stops the test PostgreSQL)",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => pg.close(),
  });
}
