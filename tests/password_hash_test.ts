/**
 * Password hashes and the PBKDF2 iteration count: a count below the default is warned about at
 * every start, each hash keeps its count, and a weaker hash is made again at its next sign-in.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { KDF_ENV, readKdfSetting } from "../lib/accounts/kdf_setting.ts";
import { DEFAULT_ITERATIONS, hashIterations, hashPassword } from "../lib/accounts/password.ts";
import { connectTcp, ServerError } from "../lib/client/mod.ts";
import { PASSWORD, startServer } from "./helpers.ts";
import { runServerToExit, spawnServer } from "./process_helpers.ts";

const WARNING = `parley: WARNING: ${KDF_ENV}=1000 is below the default ${DEFAULT_ITERATIONS}`;

/** The iteration count of `name`'s stored hash, read from the database file itself. */
function storedIterations(dataDir: string, name: string): number | undefined {
  const db = new DatabaseSync(`${dataDir}/parley.db`, { readOnly: true });
  try {
    const row = db.prepare("SELECT password_hash FROM users WHERE key = ?").get(name) as
      | { password_hash: string }
      | undefined;
    return row && hashIterations(row.password_hash);
  } finally {
    db.close();
  }
}

Deno.test("readKdfSetting: the default, a warning below it, a refusal for nonsense", () => {
  assert.deepEqual(readKdfSetting(undefined), { iterations: DEFAULT_ITERATIONS });
  assert.deepEqual(readKdfSetting(""), { iterations: DEFAULT_ITERATIONS });
  assert.deepEqual(readKdfSetting("1000000"), { iterations: 1_000_000 });
  const low = readKdfSetting("1000");
  assert.equal(low.iterations, 1000);
  assert.match(low.warning!, /below the default 600000.*tests and benchmarks only/s);
  for (const bad of ["abc", "0", "-5", "1e3", "12.5", " "]) {
    assert.throws(() => readKdfSetting(bad), RangeError, bad);
  }
});

Deno.test("hashIterations reads the count a hash was made with", async () => {
  assert.equal(hashIterations(await hashPassword("correct horse", 1234)), 1234);
  assert.equal(hashIterations("pbkdf2-sha256$x$AA==$AA=="), undefined);
  assert.equal(hashIterations("bcrypt$10$..."), undefined);
});

Deno.test("a weak hash is made again at its next sign-in, and only made stronger", () =>
  // In process with a lower count than the default, to keep it quick; the process test below
  // covers the default.
  (async () => {
    const first = await startServer({ kdfIterations: 1000 });
    await (await first.user("alice")).quit();
    await first.close({ removeData: false });
    assert.equal(storedIterations(first.dataDir, "alice"), 1000);

    const stronger = await startServer({ dataDir: first.dataDir, kdfIterations: 5000 });
    try {
      const c = await stronger.client();
      assert.equal((await c.login("alice", PASSWORD)).user, "alice");
      assert.equal(storedIterations(first.dataDir, "alice"), 5000, "rehashed at sign-in");
      c.close();
      const again = await stronger.client();
      assert.equal((await again.login("alice", PASSWORD)).user, "alice", "the new hash works");
      const wrong = await stronger.client();
      await assert.rejects(wrong.login("alice", "not the password"), ServerError);
    } finally {
      await stronger.close({ removeData: false });
    }

    const weaker = await startServer({ dataDir: first.dataDir, kdfIterations: 1000 });
    try {
      const c = await weaker.client();
      assert.equal((await c.login("alice", PASSWORD)).user, "alice");
      assert.equal(storedIterations(first.dataDir, "alice"), 5000, "never weakened");
    } finally {
      await weaker.close();
    }
  })());

Deno.test("main.ts warns at every start below the default, and heals hashes at the default", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-kdf-" });
  const login = async (
    server: Awaited<ReturnType<typeof spawnServer>>,
    mode: "register" | "login",
  ) => {
    const c = await connectTcp({ port: server.tcpPort, verifyIdentity: server.pin });
    try {
      const welcome = mode === "register"
        ? await c.register("alice", PASSWORD)
        : await c.login("alice", PASSWORD);
      assert.equal(welcome.user, "alice");
    } finally {
      c.close();
      await c.closed;
    }
  };
  try {
    // The bench's setting: accounts made under it get 1000-iteration hashes.
    const weak = await spawnServer(dataDir, [], { env: { [KDF_ENV]: "1000" } });
    assert.ok(weak.output().includes(WARNING), weak.output());
    await login(weak, "register");
    assert.equal((await weak.stop("SIGTERM")).code, 0);
    assert.equal(storedIterations(dataDir, "alice"), 1000);

    // The setting removed: no warning, and alice's next sign-in rehashes at the default.
    const healthy = await spawnServer(dataDir, [], { env: { [KDF_ENV]: "" } });
    assert.ok(!healthy.output().includes("WARNING"), healthy.output());
    await login(healthy, "login");
    assert.equal(storedIterations(dataDir, "alice"), DEFAULT_ITERATIONS);
    await login(healthy, "login");
    assert.equal((await healthy.stop("SIGTERM")).code, 0);

    // Lowered again: warned again (every start), and the stronger hash is kept.
    const again = await spawnServer(dataDir, [], {
      env: { [KDF_ENV]: "1000", PARLEY_LOG_LEVEL: "error" },
    });
    assert.ok(again.output().includes(WARNING), "even with --log-level error");
    await login(again, "login");
    assert.equal(storedIterations(dataDir, "alice"), DEFAULT_ITERATIONS);
    assert.equal((await again.stop("SIGTERM")).code, 0);

    const bad = await runServerToExit(dataDir, [], { env: { [KDF_ENV]: "lots" } });
    assert.equal(bad.code, 2);
    assert.match(
      bad.output,
      /PARLEY_KDF_ITERATIONS must be a whole number .* current value is 'lots'/,
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
