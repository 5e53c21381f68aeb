import { ParleyError } from "../errors.ts";
import type { RawCommand } from "./json.ts";
import type { RoomListing, ServerEvent } from "./types.ts";

/**
 * Text mode's room commands (`/join #dev`, `/topic #dev ...`) and how room events read. Kept
 * beside text.ts so the room vocabulary is in one place.
 */

export const ROOM_HELP = [
  "  /join #<room> [invite]  join a room; a new name creates it (invite: invite-only)",
  "  /create #<room> [invite] create a room (an error if the name is taken)",
  "  /leave #<room>          leave a room",
  "  /rooms                  rooms you can join, and yours",
  "  /members #<room>        who is in a room",
  "  /topic #<room> <text>   set a room's topic (no text clears it)",
  "  /invite @<name> #<room> invite someone",
  "  /kick @<name> #<room>   remove someone, or take back an invitation (owner)",
  "  /owner @<name> #<room>  hand the room over (owner)",
];

type RoomEvent = Extract<
  ServerEvent,
  { type: "joined" | "left" | "room" | "invite" | "invited" | "rooms" | "members" }
>;

/**
 * The command a room slash command asks for, or undefined when `word` is not one. `rest` is
 * the line after the word, as typed (a topic keeps its spacing).
 */
export function parseRoomCommand(word: string, rest: string): RawCommand | undefined {
  const args = rest.split(/\s+/).filter((a) => a !== "");
  switch (word) {
    case "join":
    case "create": {
      const mode = args[1]?.toLowerCase();
      if (args.length < 1 || args.length > 2 || (mode && !["invite", "public"].includes(mode))) {
        throw usage(`/${word} #<room> [invite]`);
      }
      const command: RawCommand = { type: "join", room: args[0] };
      if (mode) command.visibility = mode;
      if (word === "create") command.create = true;
      return command;
    }
    case "leave":
    case "part":
    case "members":
      if (args.length !== 1) throw usage(`/${word} #<room>`);
      return { type: word === "part" ? "leave" : word, room: args[0] };
    case "rooms":
    case "list":
      if (args.length > 1) throw usage("/rooms [#<room to list after>]");
      return args.length ? { type: "rooms", after: args[0] } : { type: "rooms" };
    case "topic": {
      const m = /^(\S+)(?:\s+(.*))?$/.exec(rest.trim());
      if (!m) throw usage("/topic #<room> <text>");
      return { type: "topic", room: m[1], text: m[2] ?? "" };
    }
    case "invite":
    case "kick":
    case "owner": {
      if (args.length !== 2) throw usage(`/${word} @<name> #<room>`);
      // Either order reads: the `#` says which is the room.
      const [user, room] = args[0].startsWith("#") && !args[1].startsWith("#")
        ? [args[1], args[0]]
        : args;
      return { type: word, room, user };
    }
  }
  return undefined;
}

function usage(line: string): ParleyError {
  return new ParleyError("bad_argument", `Usage: ${line}`);
}

/** How a room event reads in text mode, for the reader `viewer`. */
export function describeRoomEvent(event: RoomEvent, viewer: string | undefined): string {
  const who = (name: string) => name === viewer ? "you" : name;
  switch (event.type) {
    case "joined": {
      const kind = event.visibility === "invite" ? "invite-only" : "public";
      if (event.created) return `* You created ${event.room} (${kind}); you are its owner.`;
      const count = `${event.members} member${event.members === 1 ? "" : "s"}`;
      const owner = event.role === "owner" ? "; you are its owner" : "";
      const topic = event.topic ? ` Topic: ${event.topic}` : "";
      return `* You are in ${event.room} (${kind}, ${count}${owner}).${topic}`;
    }
    case "left":
      return event.declined
        ? `* You declined the invitation to ${event.room}.`
        : `* You left ${event.room}.`;
    case "room":
      return `* ${event.room}: ${describeChange(event, who)}`;
    case "invite":
      return event.withdrawn
        ? `* ${event.by} withdrew your invitation to ${event.room}.`
        : `* ${event.by} invited you to ${event.room}: /join ${event.room}`;
    case "invited":
      return event.withdrawn
        ? `* ${event.user} is no longer invited to ${event.room}.`
        : `* ${event.user} is invited to ${event.room}.`;
    case "rooms":
      return describeRooms(event.rooms, event.next);
    case "members": {
      const list = event.members.map((m) =>
        `${who(m.name)} (${m.role === "owner" ? "owner, " : ""}${m.state})`
      );
      return `* ${event.room} (${list.length}): ${list.join(", ")}`;
    }
  }
}

function describeChange(
  e: Extract<ServerEvent, { type: "room" }>,
  who: (name: string) => string,
): string {
  const parts: string[] = [];
  if (e.topic !== undefined) {
    parts.push(
      e.topic ? `${who(e.by)} set the topic: ${e.topic}` : `${who(e.by)} cleared the topic`,
    );
  }
  if (e.joined !== undefined) parts.push(`${who(e.joined)} joined`);
  if (e.left !== undefined) {
    parts.push(e.left === e.by ? `${who(e.left)} left` : `${who(e.by)} removed ${who(e.left)}`);
  }
  if (e.owner !== undefined) {
    parts.push(
      e.left !== undefined
        ? `${who(e.owner)} ${who(e.owner) === "you" ? "are" : "is"} its owner now`
        : `${who(e.by)} handed it to ${who(e.owner)}, its owner now`,
    );
  }
  return parts.join("; ");
}

function describeRooms(rooms: RoomListing[], next: string | undefined): string {
  if (rooms.length === 0) return "* No rooms you can join yet: /join #<name> creates one.";
  const lines = rooms.map((r) => {
    const facts = [
      r.visibility === "invite" ? "invite-only" : "public",
      `${r.members} member${r.members === 1 ? "" : "s"}`,
    ];
    if (r.role) facts.push(r.role === "owner" ? "yours" : "you are in it");
    if (r.unread) facts.push(`${r.unread} unread`);
    if (r.invited) facts.push("you are invited");
    return `  ${r.name} (${facts.join(", ")})${r.topic ? `: ${r.topic}` : ""}`;
  });
  const more = next ? [`  more: /rooms ${next}`] : [];
  return [`* Rooms (${rooms.length}${next ? "+" : ""}):`, ...lines, ...more].join("\n");
}
