/**
 * The message log on PostgreSQL (docs/storage.md): appends, history, catch-up, offline delivery,
 * devices, read markers and retention, statement for statement what `SqliteStore` does. Every
 * write runs in the group commit under the write lock (writer.ts), so its checks see every
 * earlier write of every node.
 */
import { ParleyError } from "../../errors.ts";
import { type ConvTarget, parseConv, peerOf, roomConv } from "../conv.ts";
import { sealMessageBody } from "../sealing.ts";
import {
  checkDeviceId,
  checkSeq,
  deviceRow,
  LOG_COLUMNS,
  type LogRow,
  logRow,
  noSuchRoom,
  PRUNE_CHUNK,
} from "../sqlite_log.ts";
import {
  type AppendResult,
  type ClientIdRecord,
  type ConversationSummary,
  type DeviceRecord,
  type LogMessage,
  type NewLogMessage,
  type StoredMessage,
  type SyncPage,
  UNREAD_CAP,
} from "../store.ts";
import { clientId } from "./accounts.ts";
import { markSent } from "./files.ts";
import { openRow, type PgContext, type PgRow, type Q } from "./context.ts";
import { offlineEntry, offlineOutcome, pendingOf } from "../records.ts";

const asLogRow = (r: PgRow): LogRow => logRow(r);

/** The last seq given out (0 for an empty log). */
export async function lastSeqOf(q: Q): Promise<number> {
  const [row] = await q`SELECT seq FROM log_seq`;
  return row ? Number(row.seq) : 0;
}

async function delivered(q: Q, userKey: string): Promise<number> {
  const [row] = await q`SELECT seq FROM delivered WHERE user_key = ${userKey}`;
  return row ? Number(row.seq) : 0;
}

async function ackedAhead(q: Q, userKey: string): Promise<Set<number>> {
  const rows = await q`SELECT seq FROM acked_ahead WHERE user_key = ${userKey} ORDER BY seq`;
  return new Set(rows.map((r) => Number(r.seq)));
}

async function advanceDelivered(q: Q, userKey: string, seq: number): Promise<void> {
  await q`INSERT INTO delivered (user_key, seq) VALUES (${userKey}, ${seq})
    ON CONFLICT (user_key) DO UPDATE SET seq = GREATEST(delivered.seq, excluded.seq)`;
  await q`DELETE FROM acked_ahead WHERE user_key = ${userKey} AND seq <= ${seq}`;
}

async function marker(q: Q, userKey: string, conv: string): Promise<number> {
  const [row] =
    await q`SELECT seq FROM read_markers WHERE user_key = ${userKey} AND conv = ${conv}`;
  return row ? Number(row.seq) : 0;
}

/** One member of a room, as a row, if they are one. */
export async function memberOf(q: Q, room: string, userKey: string): Promise<PgRow | undefined> {
  const [row] = await q`SELECT user_key, role, joined_seq FROM room_members
    WHERE room = ${room} AND user_key = ${userKey}`;
  return row;
}

interface ConvOf {
  conv: string;
  with: string;
  from: number;
  lastSeq: number;
  lastTs: number;
}

/** The user's conversations with news past `after` (as `SqliteStore.#convsOf`). */
async function convsOf(q: Q, userKey: string, after: number): Promise<ConvOf[]> {
  const out: ConvOf[] = [];
  const privates = await q`SELECT conv, peer_key, last_seq, last_ts FROM conversations
    WHERE user_key = ${userKey} AND last_seq > ${after}`;
  for (const r of privates) {
    out.push({
      conv: String(r.conv),
      with: String(r.peer_key),
      from: after,
      lastSeq: Number(r.last_seq),
      lastTs: Number(r.last_ts),
    });
  }
  const rooms = await q`SELECT m.room, m.joined_seq, r.last_seq, r.last_ts
    FROM room_members m JOIN rooms r ON r.key = m.room
    WHERE m.user_key = ${userKey} AND r.last_seq > ${after}`;
  for (const r of rooms) {
    out.push({
      conv: roomConv(String(r.room)),
      with: String(r.room),
      from: Math.max(after, Number(r.joined_seq)),
      lastSeq: Number(r.last_seq),
      lastTs: Number(r.last_ts),
    });
  }
  return out;
}

/**
 * Rows of the user's conversations past `after`, in seq order, at most `limit`: a range of the
 * (conv, seq, sender_key) index per conversation, merged; then only the chosen rows are read.
 * `own` includes what the user sent.
 */
async function after(
  q: Q,
  userKey: string,
  from: number,
  limit: number,
  own: boolean,
): Promise<{ rows: LogRow[]; more: boolean }> {
  const seqs: number[] = [];
  for (const c of await convsOf(q, userKey, from)) {
    const page = own
      ? await q`SELECT seq FROM messages WHERE conv = ${c.conv} AND seq > ${c.from}
          ORDER BY seq LIMIT ${limit + 1}`
      : await q`SELECT seq FROM messages WHERE conv = ${c.conv} AND seq > ${c.from}
          AND sender_key <> ${userKey} ORDER BY seq LIMIT ${limit + 1}`;
    for (const r of page) seqs.push(Number(r.seq));
  }
  seqs.sort((a, b) => a - b);
  const chosen = seqs.slice(0, limit);
  const rows = chosen.length === 0 ? [] : await q`SELECT ${q.unsafe(LOG_COLUMNS)} FROM messages
    WHERE seq = ANY(${chosen}::bigint[]) ORDER BY seq`;
  return { rows: rows.map(asLogRow), more: seqs.length > limit };
}

/** Whether message `seq` of `conv` is one the user gets (their private one, or their room's). */
async function inConv(q: Q, userKey: string, conv: string, seq: number): Promise<boolean> {
  const target = parseConv(conv);
  if (target.kind === "private") return peerOf(conv, userKey) !== undefined;
  const member = await memberOf(q, target.room, userKey);
  return member !== undefined && seq > Number(member.joined_seq);
}

/**
 * Inserts a sealed message with what follows from it (the conversation rows of a private one,
 * the room's newest message); returns its seq, taken from the counter row in this transaction.
 */
async function insertLog(q: Q, m: NewLogMessage, body: Uint8Array, target: ConvTarget) {
  const [{ seq: next }] = await q`UPDATE log_seq SET seq = seq + 1 RETURNING seq`;
  const seq = Number(next);
  await q`INSERT INTO messages (seq, id, conv, sender_key, from_name, to_name, body, lang, ts,
      call, file_id)
    VALUES (${seq}, ${m.id}, ${m.conv}, ${m.senderKey}, ${m.from}, ${m.to}, ${body},
      ${m.lang ?? null}, ${m.ts}, ${m.call === undefined ? null : JSON.stringify(m.call)},
      ${m.file?.id ?? null})`;
  if (target.kind === "room") {
    await q`UPDATE rooms SET last_seq = ${seq}, last_ts = ${m.ts} WHERE key = ${target.room}`;
  } else {
    const [a, b] = target.users;
    const pairs = a === b ? [[a, b]] : [[a, b], [b, a]];
    for (const [user, peer] of pairs) {
      await q`INSERT INTO conversations (user_key, conv, peer_key, last_seq, last_ts)
        VALUES (${user}, ${m.conv}, ${peer}, ${seq}, ${m.ts})
        ON CONFLICT (user_key, conv) DO UPDATE SET last_seq = excluded.last_seq,
          last_ts = excluded.last_ts`;
    }
  }
  return seq;
}

/** Appends; a repeated `cid` (scoped to its sender) answers with the first outcome. */
export function append(
  ctx: PgContext,
  message: NewLogMessage,
  cid: { senderKey: string; cid: string } | undefined,
): Promise<AppendResult & { to: string }> {
  ctx.assertOpen();
  const m: NewLogMessage = { ...message };
  const target = parseConv(m.conv);
  if (target.kind === "private" && !target.users.includes(m.senderKey)) {
    throw new ParleyError("bad_argument", "The sender is not in that conversation.");
  }
  let body: Uint8Array;
  // Sealed before the transaction: nothing is computed while it holds the write lock.
  const fileId = m.file?.id;
  const sealed = (async () => {
    body = await sealMessageBody(ctx.key, { ...m, fileId }, m.text);
  })();
  return ctx.write(1, async (q) => {
    if (cid !== undefined) {
      // Sees the earlier writes of the same batch too: they are in this transaction.
      const seen = await clientId(q, cid.senderKey, cid.cid);
      if (seen) return { seq: seen.seq, id: seen.id, to: seen.to, duplicate: true };
    }
    if (target.kind === "room") {
      const [room] = await q`SELECT 1 AS x FROM rooms WHERE key = ${target.room}`;
      if (!room) throw noSuchRoom(target.room);
      if (!await memberOf(q, target.room, m.senderKey)) {
        throw new ParleyError("not_a_member", `You are not in #${target.room}; /join it first.`);
      }
    }
    if (fileId !== undefined) await markSent(q, fileId);
    const seq = await insertLog(q, m, body, target);
    if (cid !== undefined) {
      await q`INSERT INTO client_ids (sender_key, cid, id, to_name, created_at, seq)
        VALUES (${cid.senderKey}, ${cid.cid}, ${m.id}, ${m.to}, ${Date.now()}, ${seq})`;
    }
    return { seq, id: m.id, to: m.to, duplicate: false };
  }, sealed);
}

export async function storeOffline(
  ctx: PgContext,
  message: StoredMessage,
  cid?: { senderKey: string; cid: string },
): Promise<ClientIdRecord | undefined> {
  return offlineOutcome(await append(ctx, offlineEntry(message), cid));
}

export function pending(ctx: PgContext, toKey: string, limit: number): Promise<StoredMessage[]> {
  return ctx.read(async (q) => {
    let from = await delivered(q, toKey);
    const ahead = await ackedAhead(q, toKey);
    const out: StoredMessage[] = [];
    // A record that does not open is skipped, so read on until `limit` good ones or the end.
    while (out.length < limit) {
      ctx.assertOpen();
      const rows = await after(q, toKey, from, limit - out.length, false);
      for (const r of rows.rows) {
        from = r.seq;
        if (ahead.has(r.seq)) continue;
        const m = await openRow(ctx, q, r, toKey);
        if (!m) continue;
        out.push(pendingOf(m, toKey));
      }
      if (!rows.more) break;
    }
    return out;
  });
}

export function pendingCount(
  ctx: PgContext,
  toKey: string,
  unreadable: number,
): Promise<number> {
  return ctx.read(async (q) => {
    const from = await delivered(q, toKey);
    let n = 0;
    for (const c of await convsOf(q, toKey, from)) {
      const [row] = await q`SELECT count(*) AS n FROM messages
        WHERE conv = ${c.conv} AND seq > ${c.from} AND sender_key <> ${toKey}`;
      n += Number(row.n);
    }
    const ahead = (await ackedAhead(q, toKey)).size;
    return Math.max(0, n - ahead - unreadable);
  });
}

export async function ack(ctx: PgContext, toKey: string, ids: string[]): Promise<number> {
  ctx.assertOpen();
  if (ids.length === 0) return await ctx.read(() => Promise.resolve(0));
  const list = [...ids];
  return await ctx.write(list.length, async (q) => {
    const from = await delivered(q, toKey);
    const ahead = await ackedAhead(q, toKey);
    const found = await q`SELECT id, seq, conv, sender_key FROM messages
      WHERE id = ANY(${list}::text[])`;
    const byId = new Map(found.map((r) => [String(r.id), r]));
    let waiting = 0;
    for (const id of list) {
      const row = byId.get(id);
      if (!row) continue;
      const seq = Number(row.seq);
      if (seq <= from || ahead.has(seq) || String(row.sender_key) === toKey) continue;
      if (!await inConv(q, toKey, String(row.conv), seq)) continue;
      await q`INSERT INTO acked_ahead (user_key, seq) VALUES (${toKey}, ${seq})
        ON CONFLICT DO NOTHING`;
      ahead.add(seq);
      waiting++;
    }
    // The delivered point moves over what is acknowledged without a gap; a message
    // acknowledged ahead of an earlier one waits in `acked_ahead` until the gap closes.
    let upTo = from;
    walk: while (true) {
      const page = await after(q, toKey, upTo, 100, false);
      for (const r of page.rows) {
        if (!ahead.has(r.seq)) break walk;
        upTo = r.seq;
      }
      if (!page.more) break;
    }
    if (upTo > from) await advanceDelivered(q, toKey, upTo);
    return waiting;
  });
}

export function history(
  ctx: PgContext,
  conv: string,
  beforeSeq: number | undefined,
  limit: number,
): Promise<LogMessage[]> {
  parseConv(conv);
  return ctx.read(async (q) => {
    const out: LogMessage[] = [];
    let before = beforeSeq ?? Number.MAX_SAFE_INTEGER;
    // Newest first from the (conv, seq) index, so a page costs its size.
    while (out.length < limit) {
      ctx.assertOpen();
      const want = limit - out.length;
      const rows = (await q`SELECT ${q.unsafe(LOG_COLUMNS)} FROM messages
        WHERE conv = ${conv} AND seq < ${before} ORDER BY seq DESC LIMIT ${want}`)
        .map(asLogRow);
      for (const r of rows) {
        before = r.seq;
        const m = await openRow(ctx, q, r, conv);
        if (m) out.push(m);
      }
      if (rows.length < want) break;
    }
    return out.reverse();
  });
}

export function since(
  ctx: PgContext,
  userKey: string,
  afterSeq: number,
  limit: number,
): Promise<SyncPage> {
  return ctx.read(async (q) => {
    const messages: LogMessage[] = [];
    let from = afterSeq;
    let more = true;
    while (more && messages.length < limit) {
      ctx.assertOpen();
      const page = await after(q, userKey, from, limit - messages.length, true);
      more = page.more;
      for (const r of page.rows) {
        from = r.seq;
        const m = await openRow(ctx, q, r, userKey);
        if (m) messages.push(m);
      }
    }
    return { messages, more };
  });
}

export function conversations(ctx: PgContext, userKey: string): Promise<ConversationSummary[]> {
  return ctx.read(async (q) => {
    const out: ConversationSummary[] = [];
    for (const c of await convsOf(q, userKey, 0)) {
      const readSeq = await marker(q, userKey, c.conv);
      const [row] = await q`SELECT count(*) AS n FROM (SELECT 1 FROM messages
        WHERE conv = ${c.conv} AND seq > ${Math.max(readSeq, c.from)}
        AND sender_key <> ${userKey} LIMIT ${UNREAD_CAP}) AS unread`;
      out.push({
        conv: c.conv,
        with: c.with,
        lastSeq: c.lastSeq,
        lastTs: c.lastTs,
        readSeq,
        unread: Number(row.n),
      });
    }
    return out.sort((a, b) => b.lastSeq - a.lastSeq || (a.conv < b.conv ? -1 : 1));
  });
}

export function lastSeq(ctx: PgContext): Promise<number> {
  return ctx.read(lastSeqOf);
}

export function openDevice(
  ctx: PgContext,
  userKey: string,
  deviceId: string,
): Promise<DeviceRecord> {
  ctx.assertOpen();
  checkDeviceId(deviceId);
  return ctx.write(1, async (q) => {
    const now = Date.now();
    const cursor = await delivered(q, userKey);
    await q`INSERT INTO devices (user_key, device_id, cursor_seq, created_at, last_seen)
      VALUES (${userKey}, ${deviceId}, ${cursor}, ${now}, ${now}) ON CONFLICT DO NOTHING`;
    const [row] = await q`UPDATE devices SET last_seen = ${now}
      WHERE user_key = ${userKey} AND device_id = ${deviceId}
      RETURNING user_key, device_id, cursor_seq, created_at, last_seen`;
    return deviceRow(row);
  });
}

export function ackDevice(
  ctx: PgContext,
  userKey: string,
  deviceId: string,
  seq: number,
): Promise<number> {
  ctx.assertOpen();
  checkSeq(seq);
  return ctx.write(1, async (q) => {
    const [row] = await q`SELECT cursor_seq FROM devices
      WHERE user_key = ${userKey} AND device_id = ${deviceId}`;
    if (!row) throw new ParleyError("bad_argument", `No device '${deviceId}' is open.`);
    // Never past the end of the log: a cursor ahead would skip messages still to come.
    const to = Math.min(seq, await lastSeqOf(q));
    const cursor = Math.max(Number(row.cursor_seq), to);
    await q`UPDATE devices SET cursor_seq = ${cursor}, last_seen = ${Date.now()}
      WHERE user_key = ${userKey} AND device_id = ${deviceId}`;
    if (cursor > await delivered(q, userKey)) await advanceDelivered(q, userKey, cursor);
    return cursor;
  });
}

export async function devices(ctx: PgContext, userKey: string): Promise<DeviceRecord[]> {
  const rows = await ctx.read((q) =>
    q`SELECT user_key, device_id, cursor_seq, created_at, last_seen FROM devices
      WHERE user_key = ${userKey} ORDER BY last_seen DESC, device_id`
  );
  return rows.map(deviceRow);
}

export function forgetDevice(ctx: PgContext, userKey: string, deviceId: string) {
  ctx.assertOpen();
  return ctx.write(
    1,
    async (q) =>
      (await q`DELETE FROM devices WHERE user_key = ${userKey} AND device_id = ${deviceId}`)
        .count > 0,
  );
}

export function deliveredSeq(ctx: PgContext, userKey: string): Promise<number> {
  return ctx.read((q) => delivered(q, userKey));
}

export function markRead(
  ctx: PgContext,
  userKey: string,
  conv: string,
  seq: number,
): Promise<number> {
  ctx.assertOpen();
  checkSeq(seq);
  const target = parseConv(conv);
  return ctx.write(1, async (q) => {
    if (target.kind === "room") {
      if (!await memberOf(q, target.room, userKey)) {
        throw new ParleyError("not_a_member", `You are not in #${target.room}.`);
      }
    } else if (!target.users.includes(userKey)) {
      throw new ParleyError("bad_argument", "That is not one of your conversations.");
    }
    // Never past the conversation's newest message: later ones are not read yet.
    const [row] = await q`SELECT max(seq) AS s FROM messages WHERE conv = ${conv}`;
    const upTo = Math.min(seq, Number(row.s ?? 0));
    await q`INSERT INTO read_markers (user_key, conv, seq) VALUES (${userKey}, ${conv}, ${upTo})
      ON CONFLICT (user_key, conv) DO UPDATE SET seq = GREATEST(read_markers.seq, excluded.seq)`;
    return await marker(q, userKey, conv);
  });
}

export function readMarker(ctx: PgContext, userKey: string, conv: string): Promise<number> {
  return ctx.read((q) => marker(q, userKey, conv));
}

export function readCount(ctx: PgContext, conv: string, seq: number): Promise<number> {
  return ctx.read(async (q) => {
    const [row] = await q`SELECT conv, sender_key FROM messages WHERE seq = ${seq}`;
    if (!row || String(row.conv) !== conv) return 0;
    const [count] = await q`SELECT count(*) AS n FROM read_markers
      WHERE conv = ${conv} AND seq >= ${seq} AND user_key <> ${String(row.sender_key)}
      AND user_key NOT IN (SELECT user_key FROM receipts_off)`;
    return Number(count.n);
  });
}

export async function setReceipts(ctx: PgContext, userKey: string, on: boolean): Promise<void> {
  ctx.assertOpen();
  await ctx.write(1, async (q) => {
    if (on) await q`DELETE FROM receipts_off WHERE user_key = ${userKey}`;
    else await q`INSERT INTO receipts_off (user_key) VALUES (${userKey}) ON CONFLICT DO NOTHING`;
  });
}

export async function receiptsOn(ctx: PgContext, userKey: string): Promise<boolean> {
  const rows = await ctx.read((q) =>
    q`SELECT 1 AS off FROM receipts_off WHERE user_key = ${userKey}`
  );
  return rows.length === 0;
}

export async function pruneHistory(ctx: PgContext, olderThanTs: number): Promise<number> {
  ctx.assertOpen();
  let removed = 0;
  // A chunk per transaction, so a large prune never holds the write lock for long.
  while (true) {
    const n = await ctx.write(PRUNE_CHUNK, async (q) => {
      const rows = await q`SELECT seq, ts FROM messages ORDER BY seq LIMIT ${PRUNE_CHUNK}`;
      let upTo = 0;
      for (const r of rows) {
        if (Number(r.ts) >= olderThanTs) break;
        upTo = Number(r.seq);
      }
      return upTo ? (await q`DELETE FROM messages WHERE seq <= ${upTo}`).count : 0;
    });
    removed += n;
    if (n < PRUNE_CHUNK) return removed;
  }
}
