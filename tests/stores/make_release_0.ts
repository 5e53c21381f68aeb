/**
 * Writes tests/stores/release_0.db: a store as the release before the message log (data layout
 * 0) leaves it, made by that release's own code, loaded from a copy of it:
 *
 *   mkdir /tmp/rel && git archive 89a2ff2 lib | tar -x -C /tmp/rel
 *   deno run -A tests/stores/make_release_0.ts /tmp/rel tests/stores/release_0.db
 *
 * What it holds is listed in tests/store_upgrade_test.ts, which checks that nothing of it is
 * lost by the upgrade.
 */
const [release, out] = Deno.args;
const from = (path: string) => import(`${new URL(`${release}/`, "file:///").href}${path}`);
const { hashPassword } = await from("lib/accounts/password.ts");
const { DataKey } = await from("lib/crypto/mod.ts");
const { SqliteStore } = await from("lib/store/mod.ts");

/** The fixture's data key: 32 bytes 0..31. Not a secret: the fixture is test data. */
const FIXTURE_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
/** Every account's password: tests/helpers.ts PASSWORD, hashed at its test iterations. */
const PASSWORD = "correct horse";

const dir = await Deno.makeTempDir();
const store = await SqliteStore.open({
  path: `${dir}/parley.db`,
  dataKey: await DataKey.fromBytes(FIXTURE_KEY, { source: "the fixture key" }),
});
const t = 1_700_000_000_000;
for (const [name, lang] of [["Alice", "en"], ["bob", "es"], ["Carol", "fr"]]) {
  await store.createUser({
    name,
    key: name.toLowerCase(),
    passwordHash: await hashPassword(PASSWORD, 1000),
    lang,
    createdAt: t,
  });
}
await store.createWebSession({
  tokenHash: "ab".repeat(32),
  userKey: "bob",
  createdAt: t,
  expiresAt: 4_000_000_000_000,
});
await store.putTranslations("deepl", "es", [
  { source: { text: "hello", lang: "en" }, translation: { text: "hola", detectedSource: "en" } },
]);
const msg = (id: string, from: string, to: string, text: string, i: number, lang?: string) => ({
  id,
  from,
  to,
  toKey: to.toLowerCase(),
  text,
  ts: t + i,
  ...(lang ? { lang } : {}),
});
await store.storeOffline(msg("m1", "Alice", "bob", "first for bob", 1, "en"), {
  senderKey: "alice",
  cid: "c-1",
});
await store.storeOffline(msg("m2", "Carol", "bob", "second for bob", 2, "fr"));
await store.storeOffline(msg("m3", "Alice", "Carol", "for carol", 3));
await store.storeOffline(msg("m4", "bob", "Alice", "acknowledged already", 4));
await store.ack("alice", ["m4"]);
await store.storeOffline(msg("m5", "Alice", "bob", "héllo 👋 third", 5, "en"), {
  senderKey: "alice",
  cid: "c-5",
});
await store.close();
await Deno.copyFile(`${dir}/parley.db`, out);
await Deno.remove(dir, { recursive: true });
