import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import type { ChatConnection } from "./chat_connection.ts";
import { conversationKey } from "./chat_state.ts";

/** Room names follow the user-name rules (docs/protocol.md, "Concepts"). */
const ROOM_NAME = /^[\p{L}\p{N}_][\p{L}\p{N}_.-]{0,31}$/u;

/** What is wrong with a room name as typed, in words; "" when nothing. */
export function roomNameProblem(name: string): string {
  const n = name.trim().replace(/^#/, "");
  if (!n) return "Give the room a name.";
  if ([...n].length > 32) return "A room name has at most 32 characters.";
  if (/^[.-]/.test(n)) return "A room name cannot start with a dot or a dash.";
  if (!ROOM_NAME.test(n)) {
    return "A room name has only letters, digits, and _ . - (no spaces).";
  }
  return "";
}

/**
 * The dialog that joins a room, or creates it when nobody has that name yet (public, or
 * invite-only), and lists the public rooms one may join. A modal `<dialog>`: the focus stays
 * inside, Escape closes it, and the focus returns to the button that opened it.
 */
export function RoomDialog(
  { chat, open, onClose }: { chat: ChatConnection; open: boolean; onClose: () => void },
) {
  const { state } = chat;
  const dialog = useRef<HTMLDialogElement>(null);
  const name = useSignal("");
  const visibility = useSignal<"public" | "invite">("public");
  const error = useSignal("");
  const busy = useSignal(false);

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) {
      error.value = "";
      d.showModal();
      chat.listRooms().catch(() => {});
    } else if (!open && d.open) d.close();
  }, [open]);

  const join = async (room: string, vis: "public" | "invite") => {
    const problem = roomNameProblem(room);
    if (problem) {
      error.value = problem;
      return;
    }
    busy.value = true;
    error.value = "";
    try {
      await chat.join(room, vis);
      name.value = "";
      onClose();
    } catch (err) {
      error.value = (err as Error).message;
    } finally {
      busy.value = false;
    }
  };

  const joinable = [...state.rooms.value.entries()]
    .filter(([key, r]) =>
      r.role === undefined && (r.visibility === "public" || state.invitedTo(key))
    )
    .sort(([, a], [, b]) => a.name.localeCompare(b.name));
  const exists = state.rooms.value.get(conversationKey(`#${name.value.trim().replace(/^#/, "")}`));

  return (
    <dialog
      ref={dialog}
      class="room-dialog"
      aria-labelledby="room-dialog-title"
      onClose={onClose}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          void join(name.value, visibility.value);
        }}
      >
        <h2 id="room-dialog-title">Join or create a room</h2>
        <label for="room-name">Room name</label>
        <div class="room-name-field">
          <span aria-hidden="true">#</span>
          <input
            id="room-name"
            dir="auto"
            autocomplete="off"
            spellcheck={false}
            maxLength={33}
            value={name.value}
            aria-invalid={error.value ? "true" : undefined}
            aria-describedby="room-dialog-error room-dialog-hint"
            onInput={(e) => {
              name.value = e.currentTarget.value;
              error.value = "";
            }}
          />
        </div>
        <p id="room-dialog-hint" class="hint">
          {exists
            ? "This room exists: you will join it."
            : "If nobody has this name yet, the room is created and you are its owner."}
        </p>
        <fieldset disabled={!!exists}>
          <legend>Who may join a new room</legend>
          <label>
            <input
              type="radio"
              name="room-visibility"
              value="public"
              checked={visibility.value === "public"}
              onChange={() => visibility.value = "public"}
            />{" "}
            Anyone (public)
          </label>
          <label>
            <input
              type="radio"
              name="room-visibility"
              value="invite"
              checked={visibility.value === "invite"}
              onChange={() => visibility.value = "invite"}
            />{" "}
            Only people the owner invites
          </label>
        </fieldset>
        <p id="room-dialog-error" class="dialog-error" role="alert">{error.value}</p>
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={busy.value}>
            {exists ? "Join" : "Join or create"}
          </button>
        </div>
        {joinable.length > 0 && (
          <section class="room-browse" aria-labelledby="room-browse-title">
            <h3 id="room-browse-title">Rooms you can join</h3>
            <ul>
              {joinable.map(([key, r]) => (
                <li key={key}>
                  <button
                    type="button"
                    class="room-pick"
                    data-room={`#${r.name}`}
                    onClick={() => void join(r.name, "public")}
                  >
                    <span class="room-pick-name" dir="auto">#{r.name}</span>
                    <span class="room-pick-detail">
                      {r.memberCount !== undefined &&
                        `${r.memberCount} member${r.memberCount === 1 ? "" : "s"}`}
                      {state.invitedTo(key) && " · invited"}
                    </span>
                    {r.topic && <span class="room-pick-topic" dir="auto">{r.topic}</span>}
                  </button>
                </li>
              ))}
            </ul>
          </section>
        )}
      </form>
    </dialog>
  );
}
