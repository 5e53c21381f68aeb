/**
 * The translation cache on PostgreSQL: keyed by HMAC lookups, bodies sealed (sealing.ts), bounded
 * to the least recently saved entries, as in `SqliteStore`.
 */
import { openTranslation, sealTranslation, translationLookup } from "../sealing.ts";
import type { CachedTranslation, TranslationSource } from "../store.ts";
import type { PgContext, Q } from "./context.ts";

/** The bound and this node's idea of how many entries there are (see `putTranslations`). */
export interface TranslationCount {
  max: number;
  /**
   * Entries as this node knows them: counted at open, kept up to date by its own writes (so the
   * bound costs no count per put). Other nodes' writes make it low; it is recounted whenever a
   * prune finds fewer rows than it thought, so the table stays near the bound.
   */
  count: number;
  /** Whether an unreadable entry was reported (once per store: it is only a miss). */
  reported: boolean;
}

export async function countTranslations(q: Q): Promise<number> {
  const [row] = await q`SELECT count(*) AS n FROM translations`;
  return Number(row.n);
}

export async function getTranslations(
  ctx: PgContext,
  state: TranslationCount,
  provider: string,
  target: string,
  sources: readonly TranslationSource[],
): Promise<(CachedTranslation | undefined)[]> {
  ctx.assertOpen();
  const lookups = await Promise.all(
    sources.map((source) => translationLookup(ctx.key, provider, target, source)),
  );
  if (lookups.length === 0) return await ctx.read(() => Promise.resolve([]));
  const rows = await ctx.read((q) =>
    q`SELECT lookup, body FROM translations WHERE provider = ${provider} AND target = ${target}
      AND lookup = ANY(${[...new Set(lookups)]}::text[])`
  );
  const bodies = new Map(rows.map((r) => [String(r.lookup), r.body as Uint8Array]));
  return await Promise.all(lookups.map(async (lookup) => {
    const body = bodies.get(lookup);
    if (!body) return undefined;
    const translation = await openTranslation(ctx.key, provider, target, lookup, body);
    if (!translation && !state.reported) {
      state.reported = true;
      ctx.logger.warn(
        "a cached translation failed to open with the data key; treated as a miss (reported once)",
        { provider, target, key: ctx.key.keyId },
      );
    }
    return translation;
  }));
}

export async function putTranslations(
  ctx: PgContext,
  state: TranslationCount,
  provider: string,
  target: string,
  entries: readonly { source: TranslationSource; translation: CachedTranslation }[],
): Promise<void> {
  ctx.assertOpen();
  if (entries.length === 0) return await ctx.read(() => Promise.resolve());
  let rows: { lookup: string; body: Uint8Array }[] = [];
  // Keyed and sealed before the transaction: nothing is computed while it holds the lock.
  const sealed = (async () => {
    rows = await Promise.all(entries.map(async ({ source, translation }) => {
      const lookup = await translationLookup(ctx.key, provider, target, source);
      const body = await sealTranslation(ctx.key, provider, target, lookup, translation);
      return { lookup, body };
    }));
  })();
  await ctx.write(entries.length, async (q) => {
    // Strictly after every earlier put (of any node, whatever the clocks did), so the newest
    // entries are never taken for the oldest.
    const [last] = await q`SELECT max(saved_at) AS t FROM translations`;
    const savedAt = Math.max(Date.now(), last.t === null ? 0 : Number(last.t) + 1);
    let added = 0;
    for (const { lookup, body } of rows) {
      const [row] = await q`INSERT INTO translations (provider, target, lookup, body, saved_at)
        VALUES (${provider}, ${target}, ${lookup}, ${body}, ${savedAt})
        ON CONFLICT (provider, target, lookup) DO UPDATE SET body = excluded.body,
          saved_at = excluded.saved_at
        RETURNING (xmax = 0) AS inserted`;
      if (row.inserted) added++;
    }
    let count = state.count + added;
    if (count > state.max) {
      // The least recently saved go, down to the bound (through the saved_at index).
      const excess = count - state.max;
      const pruned = (await q`DELETE FROM translations WHERE (provider, target, lookup) IN
        (SELECT provider, target, lookup FROM translations ORDER BY saved_at LIMIT ${excess})`)
        .count;
      count = pruned === excess ? state.max : await countTranslations(q);
    }
    state.count = count;
  }, sealed);
}
