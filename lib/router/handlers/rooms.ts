import { nameKey } from "../../accounts/names.ts";
import { isParleyError, ParleyError } from "../../errors.ts";
import type { Command, RoomListing, RoomMemberStatus, RoomRole } from "../../protocol/types.ts";
import { roomConv } from "../../store/conv.ts";
import type { RoomMember, RoomRecord } from "../../store/store.ts";
import type { Router } from "../router.ts";
import type { ClientSession } from "../client_session.ts";
import { nameOf, roomLabel, tellRoom, tellUser } from "../room_audience.ts";
import { sendHistoryPage } from "../history.ts";

type Cmd<T extends Command["type"]> = Extract<Command, { type: T }>;

/**
 * {"type":"join","room":"dev","visibility"?:"invite","create"?:true}
 * Joins a room, or creates it when nobody has that name (as IRC's JOIN does): the creator is
 * its owner. With `create`, a name in use is `room_taken` instead. The joiner's sessions get
 * `joined`; the other members a `room` event.
 */
export async function handleJoin(
  router: Router,
  session: ClientSession,
  cmd: Cmd<"join">,
): Promise<void> {
  const user = session.user!;
  const key = nameKey(cmd.room);
  let room = await router.store.getRoom(key);
  if (room && cmd.create) throw roomTaken(room);
  let created = false;
  let already = false;
  let role: RoomRole = "owner";
  if (!room) {
    try {
      room = await router.store.createRoom(
        { key, name: cmd.room, topic: "", visibility: cmd.visibility, createdAt: Date.now() },
        user.key,
      );
      created = true;
    } catch (err) {
      // Someone created it a moment ago: then this is a join like any other.
      if (!isParleyError(err, "room_taken") || cmd.create) throw err;
      room = await loadRoom(router, cmd.room);
    }
  }
  if (!created) {
    const joined = await router.store.joinRoom(key, user.key);
    role = joined.member.role;
    already = joined.already;
    if (!already) {
      // A room everyone left has no owner: the first to come back takes it.
      if (!(await router.store.members(key)).some((m) => m.role === "owner")) {
        await router.store.setRole(key, user.key, "owner");
        role = "owner";
      }
      await tellRoom(
        router,
        key,
        { type: "room", room: roomLabel(room.name), joined: user.name, by: user.name },
        { except: user.key },
      );
    }
  }
  const now = (await router.store.getRoom(key)) ?? room;
  const event = {
    type: "joined",
    room: roomLabel(now.name),
    topic: now.topic,
    visibility: now.visibility,
    role,
    members: now.members,
    created,
  } as const;
  // A member already: only the one who asked needs the answer again.
  if (already) session.emit({ ...event, cid: cmd.cid });
  else tellUser(router, session, event, cmd.cid);
  // A room just made has nothing to show yet.
  if (!created) await showLastPage(router, session, roomLabel(now.name));
}

/** Lines of history text mode shows after a join (JSON clients get a default page). */
const TEXT_JOIN_PAGE = 20;

/**
 * The room's last page of history, for the session that joined, as a `history` event. The
 * join stands whatever happens here: a failure is logged, not answered.
 */
async function showLastPage(router: Router, session: ClientSession, label: string): Promise<void> {
  const text = session.conn.dialect === "text";
  try {
    const page = await sendHistoryPage(router, session, label, {
      limit: text ? TEXT_JOIN_PAGE : undefined,
    });
    // Text mode's `/history #room` then goes on from the page shown.
    if (text && page.more && page.first !== undefined) {
      session.lastHistory = { with: label, before: page.first };
    }
  } catch (err) {
    router.logger.warn("could not show a room's history after a join", {
      session: session.id,
      error: err,
    });
  }
}

/**
 * {"type":"leave","room":"dev"}
 * Leaves a room. An owner who leaves hands it to the longest-standing member; the last member
 * leaving leaves it empty (it keeps its name, topic and history, and the next to join owns it).
 * Someone invited who is not in it declines the invitation (it is no longer shown at sign-in).
 */
export async function handleLeave(
  router: Router,
  session: ClientSession,
  cmd: Cmd<"leave">,
): Promise<void> {
  const user = session.user!;
  const room = await loadRoom(router, cmd.room);
  const was = await router.store.member(room.key, user.key);
  if (!was) {
    if (!await router.store.dropInvite(room.key, user.key)) throw notAMember(room);
    const event = { type: "left", room: roomLabel(room.name), declined: true } as const;
    return tellUser(router, session, event, cmd.cid);
  }
  if (!await router.store.leaveRoom(room.key, user.key)) throw notAMember(room);
  tellUser(router, session, { type: "left", room: roomLabel(room.name) }, cmd.cid);
  const owner = was.role === "owner" ? await ownerOf(router, room.key) : undefined;
  await tellRoom(router, room.key, {
    type: "room",
    room: roomLabel(room.name),
    left: user.name,
    ...(owner === undefined ? {} : { owner: await nameOf(router, owner) }),
    by: user.name,
  });
}

/** The rooms in one `rooms` page unless the client asks for fewer. */
export const ROOMS_PAGE = 100;
/** The largest `rooms` page a client may ask for. */
export const MAX_ROOMS_PAGE = 200;

/**
 * {"type":"rooms","after"?:"dev","limit"?:100}
 * One page of the rooms the user can see, by name: every public room, the ones they are in,
 * and the ones they are invited to, with topics and member counts (and, for their own, their
 * role and unread count).
 */
export async function handleRooms(
  router: Router,
  session: ClientSession,
  cmd: Cmd<"rooms">,
): Promise<void> {
  const user = session.user!;
  const after = cmd.after === undefined ? undefined : nameKey(cmd.after);
  // One more than asked for: whether a next page exists, without a second query.
  const rows = await router.store.listRooms(user.key, after, cmd.limit + 1);
  const page = rows.slice(0, cmd.limit);
  const mine = new Set(await router.store.roomsOf(user.key));
  const invited = new Set((await router.store.invitesOf(user.key)).map((i) => i.room));
  const unread = new Map(
    mine.size === 0
      ? []
      : (await router.store.conversations(user.key)).map((c) => [c.conv, c.unread]),
  );
  const rooms: RoomListing[] = [];
  for (const r of page) {
    const listing: RoomListing = {
      name: roomLabel(r.name),
      topic: r.topic,
      visibility: r.visibility,
      members: r.members,
    };
    if (mine.has(r.key)) {
      listing.role = (await router.store.member(r.key, user.key))?.role ?? "member";
      listing.unread = unread.get(roomConv(r.key)) ?? 0;
    } else if (invited.has(r.key)) listing.invited = true;
    rooms.push(listing);
  }
  const next = rows.length > cmd.limit ? roomLabel(page[page.length - 1].name) : undefined;
  session.emit({ type: "rooms", rooms, next, cid: cmd.cid });
}

/** The longest topic, in characters. */
export const MAX_TOPIC = 300;

/**
 * {"type":"topic","room":"dev","text":"shipping 1.0"}
 * Sets (or, with "", clears) a room's topic: any member of a public room, only the owner of an
 * invite-only one.
 */
export async function handleTopic(
  router: Router,
  session: ClientSession,
  cmd: Cmd<"topic">,
): Promise<void> {
  const room = await roomAs(router, session, cmd.room, "steward");
  await router.store.setTopic(room.key, cmd.text);
  await announce(router, session, cmd, room, { topic: cmd.text });
}

/**
 * {"type":"invite","room":"dev","user":"bob"}
 * Invites someone: any member of a public room (a nudge), only the owner of an invite-only one
 * (the invitation is what lets them in). They are told at once, and at each sign-in until they
 * join.
 */
export async function handleInvite(
  router: Router,
  session: ClientSession,
  cmd: Cmd<"invite">,
): Promise<void> {
  const user = session.user!;
  const room = await roomAs(router, session, cmd.room, "steward");
  const invitee = await router.store.getUser(nameKey(cmd.user));
  if (!invitee) {
    throw new ParleyError(
      "no_such_user",
      `There is no user named '${cmd.user}'. /who lists users.`,
    );
  }
  if (!await router.store.invite(room.key, invitee.key, user.key)) {
    throw new ParleyError("bad_argument", `${invitee.name} is in #${room.name} already.`);
  }
  session.emit({ type: "invited", room: roomLabel(room.name), user: invitee.name, cid: cmd.cid });
  router.tellUsers([invitee.key], { type: "invite", room: roomLabel(room.name), by: user.name });
}

/**
 * {"type":"kick","room":"dev","user":"bob"}
 * The owner removes a member. They see it (a `room` event naming them as `left`), as do the
 * members. A public room can be joined again; an invite-only one needs a new invitation.
 */
export async function handleKick(
  router: Router,
  session: ClientSession,
  cmd: Cmd<"kick">,
): Promise<void> {
  const room = await roomAs(router, session, cmd.room, "owner");
  if (await withdrawInvite(router, session, room, cmd)) return;
  const target = await otherMember(router, session, room, cmd.user, "/leave #room leaves it");
  await router.store.leaveRoom(room.key, target.key);
  await announce(router, session, cmd, room, { left: target.name }, target.key);
}

/**
 * `kick` of someone invited who has not joined yet withdraws the invitation: the owner hears
 * `invited` with `withdrawn`, the one invited an `invite` with `withdrawn`. False when they hold
 * none (then it is a removal like any other).
 */
async function withdrawInvite(
  router: Router,
  session: ClientSession,
  room: RoomRecord,
  cmd: Cmd<"kick">,
): Promise<boolean> {
  const key = nameKey(cmd.user);
  if (key === session.user!.key || await router.store.member(room.key, key)) return false;
  if (!await router.store.dropInvite(room.key, key)) return false;
  const label = roomLabel(room.name);
  const name = await nameOf(router, key);
  session.emit({ type: "invited", room: label, user: name, withdrawn: true, cid: cmd.cid });
  router.tellUsers([key], { type: "invite", room: label, by: session.user!.name, withdrawn: true });
  return true;
}

/**
 * {"type":"owner","room":"dev","user":"bob"}
 * The owner hands the room to another member, and becomes a member.
 */
export async function handleOwner(
  router: Router,
  session: ClientSession,
  cmd: Cmd<"owner">,
): Promise<void> {
  const room = await roomAs(router, session, cmd.room, "owner");
  const target = await otherMember(router, session, room, cmd.user, "you own it already");
  await router.store.setRole(room.key, target.key, "owner");
  await announce(router, session, cmd, room, { owner: target.name });
}

/**
 * {"type":"members","room":"dev"}
 * Who is in a room, owner first, then by name, each online or offline. Anyone may look into a
 * public room; only members into an invite-only one.
 */
export async function handleMembers(
  router: Router,
  session: ClientSession,
  cmd: Cmd<"members">,
): Promise<void> {
  const user = session.user!;
  const room = await loadRoom(router, cmd.room);
  if (room.visibility === "invite") await requireMember(router, room, user.key);
  const members: RoomMemberStatus[] = [];
  for (const m of await router.store.members(room.key)) {
    members.push({
      name: await nameOf(router, m.userKey),
      role: m.role,
      state: router.cluster.isOnline(m.userKey) ? "online" : "offline",
    });
  }
  members.sort((a, b) =>
    a.role === b.role ? nameKey(a.name).localeCompare(nameKey(b.name)) : a.role === "owner" ? -1 : 1
  );
  session.emit({ type: "members", room: roomLabel(room.name), members, cid: cmd.cid });
}

async function loadRoom(router: Router, name: string): Promise<RoomRecord> {
  const room = await router.store.getRoom(nameKey(name));
  if (!room) {
    throw new ParleyError(
      "no_such_room",
      `There is no room named #${name}. /join #${name} creates it; /rooms lists rooms.`,
    );
  }
  return room;
}

async function requireMember(
  router: Router,
  room: RoomRecord,
  userKey: string,
): Promise<RoomMember> {
  const member = await router.store.member(room.key, userKey);
  if (!member) throw notAMember(room);
  return member;
}

/**
 * The room named, when the session's user may act on it: `owner` only its owner; `steward` any
 * member of a public room, only the owner of an invite-only one.
 */
async function roomAs(
  router: Router,
  session: ClientSession,
  name: string,
  need: "owner" | "steward",
): Promise<RoomRecord> {
  const room = await loadRoom(router, name);
  const member = await requireMember(router, room, session.user!.key);
  const ownerOnly = need === "owner" || room.visibility === "invite";
  if (ownerOnly && member.role !== "owner") throw notOwner(room);
  return room;
}

/** Tells the room what the session's user changed; their session's copy answers `cmd`. */
function announce(
  router: Router,
  session: ClientSession,
  cmd: { cid?: string },
  room: RoomRecord,
  change: { topic?: string; left?: string; owner?: string },
  alsoKey?: string,
): Promise<void> {
  return tellRoom(
    router,
    room.key,
    { type: "room", room: roomLabel(room.name), ...change, by: session.user!.name },
    { origin: { session, cid: cmd.cid }, also: alsoKey === undefined ? [] : [alsoKey] },
  );
}

/** The member a `kick` or `owner` names: someone in the room other than the one asking. */
async function otherMember(
  router: Router,
  session: ClientSession,
  room: RoomRecord,
  name: string,
  selfHint: string,
): Promise<{ key: string; name: string }> {
  const key = nameKey(name);
  if (key === session.user!.key) throw new ParleyError("bad_argument", `That is you: ${selfHint}.`);
  if (!await router.store.member(room.key, key)) {
    throw new ParleyError("not_a_member", `${name} is not in #${room.name}.`);
  }
  return { key, name: await nameOf(router, key) };
}

async function ownerOf(router: Router, roomKey: string): Promise<string | undefined> {
  return (await router.store.members(roomKey)).find((m) => m.role === "owner")?.userKey;
}

function notAMember(room: RoomRecord): ParleyError {
  return new ParleyError(
    "not_a_member",
    `You are not in #${room.name}` +
      (room.visibility === "public" ? `; /join #${room.name} first.` : "."),
  );
}

function notOwner(room: RoomRecord): ParleyError {
  return new ParleyError("not_owner", `Only the owner of #${room.name} can do that.`);
}

function roomTaken(room: RoomRecord): ParleyError {
  return new ParleyError(
    "room_taken",
    `There is a room named #${room.name} already; /join #${room.name} joins it.`,
  );
}
