/**
 * Rooms on PostgreSQL: membership, invitations and roles, as `SqliteStore` keeps them. Writes
 * run in the group commit under the write lock (writer.ts), so a check and the write after it
 * see the same rooms on every node.
 */
import { ParleyError } from "../../errors.ts";
import { roomConv } from "../conv.ts";
import { memberRow, noSuchRoom, roomRow } from "../sqlite_log.ts";
import type { RoomInvite, RoomMember, RoomRecord, RoomRole } from "../store.ts";
import type { PgContext, PgRow, Q } from "./context.ts";
import { lastSeqOf, memberOf } from "./log.ts";

async function room(q: Q, key: string): Promise<PgRow | undefined> {
  const [row] = await q`SELECT key, name, topic, visibility, created_at,
    (SELECT count(*) FROM room_members m WHERE m.room = rooms.key) AS members
    FROM rooms WHERE key = ${key}`;
  return row;
}

async function addMember(q: Q, roomKey: string, userKey: string, role: RoomRole) {
  await q`INSERT INTO room_members (room, user_key, role, joined_seq, joined_at)
    VALUES (${roomKey}, ${userKey}, ${role}, ${await lastSeqOf(q)}, ${Date.now()})`;
}

export function createRoom(
  ctx: PgContext,
  r: Omit<RoomRecord, "members">,
  owner: string,
): Promise<RoomRecord> {
  ctx.assertOpen();
  const record = { ...r };
  return ctx.write(1, async (q) => {
    if (await room(q, record.key)) {
      throw new ParleyError("room_taken", `There is a room named #${record.key} already.`);
    }
    await q`INSERT INTO rooms (key, name, topic, visibility, created_at) VALUES (${record.key},
      ${record.name}, ${record.topic}, ${record.visibility}, ${record.createdAt})`;
    await addMember(q, record.key, owner, "owner");
    return { ...record, members: 1 };
  });
}

export async function getRoom(ctx: PgContext, key: string): Promise<RoomRecord | undefined> {
  const row = await ctx.read((q) => room(q, key));
  return row && roomRow(row);
}

export async function listRooms(
  ctx: PgContext,
  userKey: string,
  after: string | undefined,
  limit: number,
): Promise<RoomRecord[]> {
  const rows = await ctx.read((q) =>
    q`SELECT key, name, topic, visibility, created_at,
      (SELECT count(*) FROM room_members m WHERE m.room = rooms.key) AS members
      FROM rooms WHERE key > ${after ?? ""} AND (visibility = 'public' OR
        EXISTS (SELECT 1 FROM room_members m WHERE m.room = rooms.key AND m.user_key = ${userKey})
        OR EXISTS (SELECT 1 FROM room_invites i WHERE i.room = rooms.key AND i.user_key = ${userKey}))
      ORDER BY key LIMIT ${limit}`
  );
  return rows.map(roomRow);
}

export async function roomsOf(ctx: PgContext, userKey: string): Promise<string[]> {
  const rows = await ctx.read((q) =>
    q`SELECT room FROM room_members WHERE user_key = ${userKey} ORDER BY room`
  );
  return rows.map((r) => String(r.room));
}

export function joinRoom(
  ctx: PgContext,
  roomKey: string,
  userKey: string,
): Promise<{ member: RoomMember; already: boolean }> {
  ctx.assertOpen();
  return ctx.write(1, async (q) => {
    const r = await room(q, roomKey);
    if (!r) throw noSuchRoom(roomKey);
    const existing = await memberOf(q, roomKey, userKey);
    if (existing) return { member: memberRow(existing), already: true };
    if (r.visibility === "invite" && !await hasInvite(q, roomKey, userKey)) {
      throw new ParleyError(
        "not_invited",
        `#${r.name} is invite-only; ask its owner for an invitation.`,
      );
    }
    await q`DELETE FROM room_invites WHERE room = ${roomKey} AND user_key = ${userKey}`;
    await addMember(q, roomKey, userKey, "member");
    return { member: memberRow((await memberOf(q, roomKey, userKey))!), already: false };
  });
}

export function leaveRoom(ctx: PgContext, roomKey: string, userKey: string): Promise<boolean> {
  ctx.assertOpen();
  return ctx.write(1, async (q) => {
    const member = await memberOf(q, roomKey, userKey);
    if (!member) return false;
    await q`DELETE FROM room_members WHERE room = ${roomKey} AND user_key = ${userKey}`;
    await q`DELETE FROM read_markers WHERE user_key = ${userKey} AND conv = ${roomConv(roomKey)}`;
    const [owner] = await q`SELECT user_key FROM room_members
      WHERE room = ${roomKey} AND role = 'owner'`;
    if (member.role === "owner" && !owner) {
      // The longest-standing member takes over; an empty room keeps its name and history.
      await q`UPDATE room_members SET role = 'owner' WHERE room = ${roomKey} AND user_key =
        (SELECT user_key FROM room_members WHERE room = ${roomKey}
          ORDER BY joined_seq, joined_at, user_key LIMIT 1)`;
    }
    return true;
  });
}

export async function members(ctx: PgContext, roomKey: string): Promise<RoomMember[]> {
  const rows = await ctx.read((q) =>
    q`SELECT user_key, role, joined_seq FROM room_members WHERE room = ${roomKey}
      ORDER BY user_key`
  );
  return rows.map(memberRow);
}

export async function member(
  ctx: PgContext,
  roomKey: string,
  userKey: string,
): Promise<RoomMember | undefined> {
  const row = await ctx.read((q) => memberOf(q, roomKey, userKey));
  return row && memberRow(row);
}

export async function setTopic(ctx: PgContext, roomKey: string, topic: string): Promise<void> {
  ctx.assertOpen();
  await ctx.write(1, async (q) => {
    const result = await q`UPDATE rooms SET topic = ${topic} WHERE key = ${roomKey}`;
    if (result.count === 0) throw noSuchRoom(roomKey);
  });
}

export function invite(
  ctx: PgContext,
  roomKey: string,
  userKey: string,
  by: string,
): Promise<boolean> {
  ctx.assertOpen();
  return ctx.write(1, async (q) => {
    if (!await room(q, roomKey)) throw noSuchRoom(roomKey);
    if (await memberOf(q, roomKey, userKey)) return false;
    await q`INSERT INTO room_invites (room, user_key, by_key, created_at)
      VALUES (${roomKey}, ${userKey}, ${by}, ${Date.now()})
      ON CONFLICT (room, user_key) DO UPDATE SET by_key = excluded.by_key,
        created_at = excluded.created_at`;
    return true;
  });
}

async function hasInvite(q: Q, roomKey: string, userKey: string): Promise<boolean> {
  const rows = await q`SELECT 1 AS x FROM room_invites
    WHERE room = ${roomKey} AND user_key = ${userKey}`;
  return rows.length > 0;
}

export function invited(ctx: PgContext, roomKey: string, userKey: string): Promise<boolean> {
  return ctx.read((q) => hasInvite(q, roomKey, userKey));
}

export async function invitesOf(ctx: PgContext, userKey: string): Promise<RoomInvite[]> {
  const rows = await ctx.read((q) =>
    q`SELECT room, by_key, created_at FROM room_invites WHERE user_key = ${userKey}
      ORDER BY created_at, room`
  );
  return rows.map((r) => ({
    room: String(r.room),
    byKey: String(r.by_key),
    createdAt: Number(r.created_at),
  }));
}

export function dropInvite(ctx: PgContext, roomKey: string, userKey: string): Promise<boolean> {
  ctx.assertOpen();
  return ctx.write(
    1,
    async (q) =>
      (await q`DELETE FROM room_invites WHERE room = ${roomKey} AND user_key = ${userKey}`)
        .count > 0,
  );
}

export async function setRole(
  ctx: PgContext,
  roomKey: string,
  userKey: string,
  role: RoomRole,
): Promise<void> {
  ctx.assertOpen();
  await ctx.write(1, async (q) => {
    const m = await memberOf(q, roomKey, userKey);
    if (!m) throw new ParleyError("not_a_member", `${userKey} is not in #${roomKey}.`);
    if (role === "owner") {
      await q`UPDATE room_members SET role = 'member' WHERE room = ${roomKey} AND role = 'owner'`;
    } else if (m.role === "owner") {
      throw new ParleyError(
        "bad_argument",
        "A room keeps an owner: hand ownership to another member instead.",
      );
    }
    await q`UPDATE room_members SET role = ${role} WHERE room = ${roomKey} AND user_key = ${userKey}`;
  });
}
