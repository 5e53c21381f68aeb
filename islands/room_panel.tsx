import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import type { ChatConnection } from "./chat_connection.ts";
import { keyOf } from "./chat_state.ts";
import { hue, initial } from "./format.ts";

/**
 * The open room's details, under its title: who is in it (role and presence), and what one
 * may do: set the topic, invite, leave; the owner also removes members and hands the room over.
 * Every refusal is shown in words.
 */
export function RoomPanel({ chat, room }: { chat: ChatConnection; room: string }) {
  const { state } = chat;
  const info = state.rooms.value.get(room);
  const members = state.members.value.get(room) ?? [];
  const me = keyOf(state.me.value);
  const owner = info?.role === "owner";
  const known = state.presenceKnown.value;
  const error = useSignal("");
  const topic = useSignal<string | undefined>(undefined);
  const invitee = useSignal("");
  const online = state.connection.value.state === "online";

  // The member list of the room that opened, and again after a reconnect.
  useEffect(() => {
    error.value = "";
    topic.value = undefined;
    if (online && info?.role) chat.members(room).catch(() => {});
  }, [room, online, info?.role !== undefined]);

  const act = (work: Promise<void>, done?: () => void) => {
    error.value = "";
    work.then(done, (err: Error) => error.value = err.message);
  };

  if (!info?.role) return null;
  return (
    <details class="room-panel">
      <summary>
        Members{info.memberCount !== undefined && ` (${info.memberCount})`}
        {info.visibility === "invite" ? " · invite-only" : " · public"}
        {owner && " · you own this room"}
      </summary>
      <div class="room-panel-body">
        <ul class="members" aria-label={`Members of ${state.titleOf(room)}`}>
          {members.map((m) => {
            const presence = !known ? "unknown" : m.state === "offline" ? "offline" : "online";
            const self = keyOf(m.name) === me;
            return (
              <li key={m.name} class="member" data-member={m.name}>
                <span class={`avatar small hue-${hue(m.name)}`} aria-hidden="true">
                  {initial(m.name)}
                  <span class={`presence-dot ${presence}`} />
                </span>
                <span class="member-name" dir="auto">{m.name}</span>
                <span class="member-detail">
                  {m.role === "owner" ? "owner" : "member"} ·{" "}
                  {known ? presence : state.presenceUnknown.value}
                </span>
                {owner && !self && (
                  <span class="member-actions">
                    <button
                      type="button"
                      class="link-button"
                      aria-label={`Make ${m.name} the owner of ${state.titleOf(room)}`}
                      onClick={() => act(chat.handOver(room, m.name))}
                    >
                      Make owner
                    </button>
                    <button
                      type="button"
                      class="link-button danger"
                      aria-label={`Remove ${m.name} from ${state.titleOf(room)}`}
                      onClick={() => act(chat.kick(room, m.name))}
                    >
                      Remove
                    </button>
                  </span>
                )}
              </li>
            );
          })}
        </ul>
        {(owner || info.visibility === "public") && (
          <form
            class="room-form"
            onSubmit={(e) => {
              e.preventDefault();
              const text = topic.value ?? info.topic;
              act(chat.setTopic(room, text), () => topic.value = undefined);
            }}
          >
            <label for="room-topic">Topic</label>
            <input
              id="room-topic"
              dir="auto"
              maxLength={300}
              value={topic.value ?? info.topic}
              onInput={(e) => topic.value = e.currentTarget.value}
            />
            <button type="submit" class="secondary">Set topic</button>
          </form>
        )}
        {(owner || info.visibility === "public") && (
          <form
            class="room-form"
            onSubmit={(e) => {
              e.preventDefault();
              if (!invitee.value.trim()) {
                error.value = "Whom should I invite? Type their name.";
                return;
              }
              act(chat.invite(room, invitee.value), () => invitee.value = "");
            }}
          >
            <label for="room-invite">Invite</label>
            <input
              id="room-invite"
              dir="auto"
              autocomplete="off"
              maxLength={33}
              placeholder="name"
              value={invitee.value}
              onInput={(e) => invitee.value = e.currentTarget.value}
            />
            <button type="submit" class="secondary">Invite</button>
          </form>
        )}
        <p class="dialog-error" role="alert">{error.value}</p>
        <button
          type="button"
          class="secondary leave-room"
          onClick={() => act(chat.leave(room))}
        >
          Leave {state.titleOf(room)}
        </button>
      </div>
    </details>
  );
}
