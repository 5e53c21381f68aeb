import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import type { UserStatus } from "../lib/protocol/types.ts";
import type { ChatConnection } from "./chat_connection.ts";
import type { ChatState, Person } from "./chat_state.ts";
import { EVERYONE, isRoom, keyOf } from "./chat_state.ts";
import { hue, initial } from "./format.ts";

interface Props {
  chat: ChatConnection;
  /** Called after a conversation was picked (the phone layout closes the panel). */
  onPick: () => void;
  /** Opens the dialog that joins or creates a room. */
  onNewRoom: () => void;
}

/** Waits this long after the last key before asking the server. */
const SEARCH_DELAY_MS = 200;

/** What a search shows: the query it answers, the people found so far, and where it stands. */
interface Search {
  query: string;
  users: UserStatus[];
  next?: string;
  state: "loading" | "done" | "failed";
}

/**
 * Conversations: everyone, then the people this user has talked to and who is online, each
 * with their live status and unread count; a search box finds anyone else by name, from the
 * server, a page at a time.
 */
export function UserList({ chat, onPick, onNewRoom }: Props) {
  const { state } = chat;
  const active = state.active.value;
  const unread = state.unread.value;
  const known = state.presenceKnown.value;
  const query = useSignal("");
  const search = useSignal<Search | undefined>(undefined);
  const asked = useRef(0);
  const mentioned = state.mentioned.value;
  const pick = (key: string) => {
    chat.openConversation(key);
    onPick();
  };

  const run = (q: string, cursor?: string) => {
    const ask = ++asked.current;
    const before = cursor && search.value?.query === q ? search.value.users : [];
    search.value = { query: q, users: before, next: cursor, state: "loading" };
    chat.searchUsers(q, cursor).then(
      (page) => {
        if (ask !== asked.current) return;
        search.value = {
          query: q,
          users: [...before, ...page.users],
          next: page.next,
          state: "done",
        };
      },
      () => {
        if (ask === asked.current) search.value = { query: q, users: before, state: "failed" };
      },
    );
  };

  useEffect(() => {
    const q = query.value.trim().replace(/^@/, "");
    if (!q) {
      asked.current++;
      search.value = undefined;
      return;
    }
    const timer = setTimeout(() => run(q), SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [query.value]);

  const others = state.listed.value;
  const online = state.others.value.filter((p) => p.state !== "offline").length;
  const me = keyOf(state.me.value);
  return (
    <nav class="people" aria-label="Conversations">
      <ul class="conversations">
        <li>
          <ConversationButton
            label="Everyone"
            detail={known
              ? `${online} other${online === 1 ? "" : "s"} online`
              : state.presenceUnknown.value}
            avatar="#"
            hueClass="hue-all"
            current={active === EVERYONE}
            unread={unread[EVERYONE] ?? 0}
            mentions={mentioned[EVERYONE] ?? 0}
            onClick={() => pick(EVERYONE)}
          />
        </li>
      </ul>
      <div class="rooms-head">
        <h2 class="people-heading" id="rooms-heading">Rooms</h2>
        <button type="button" class="new-room" onClick={onNewRoom}>
          <span aria-hidden="true">+</span> Join or create
        </button>
      </div>
      {state.invites.value.length > 0 && (
        <ul class="invites" aria-label="Invitations">
          {state.invites.value.map((i) => (
            <li key={i.room} class="invite">
              <span class="invite-text">
                <bdi>{i.by}</bdi> invited you to <bdi>#{i.room}</bdi>
              </span>
              <button
                type="button"
                class="link-button"
                onClick={() => {
                  chat.join(i.room).then(onPick, (err: Error) => state.notice.value = err.message);
                }}
              >
                Join
              </button>
              <button
                type="button"
                class="link-button"
                aria-label={`Decline the invitation to #${i.room}`}
                onClick={() => {
                  chat.decline(i.room).catch((err: Error) => state.notice.value = err.message);
                }}
              >
                Decline
              </button>
            </li>
          ))}
        </ul>
      )}
      {state.myRooms.value.length === 0
        ? <p class="people-empty">You are in no room yet.</p>
        : (
          <ul class="conversations" aria-labelledby="rooms-heading">
            {state.myRooms.value.map(({ key, room }) => (
              <li key={key}>
                <ConversationButton
                  label={`#${room.name}`}
                  detail={room.topic ||
                    (room.memberCount !== undefined
                      ? `${room.memberCount} member${room.memberCount === 1 ? "" : "s"}`
                      : room.visibility === "invite"
                      ? "invite-only"
                      : "public")}
                  avatar="#"
                  hueClass={`hue-${hue(room.name)}`}
                  current={active === key}
                  unread={unread[key] ?? 0}
                  mentions={mentioned[key] ?? 0}
                  onClick={() => pick(key)}
                />
              </li>
            ))}
          </ul>
        )}
      <div class="people-search" role="search">
        <label for="people-search-input" class="sr-only">Find people by name</label>
        <input
          id="people-search-input"
          type="search"
          dir="auto"
          autocomplete="off"
          spellcheck={false}
          maxLength={33}
          placeholder="Find people by name…"
          value={query.value}
          onInput={(e) => query.value = e.currentTarget.value}
          onKeyDown={(e) => {
            if (e.key === "Escape" && query.value) {
              e.stopPropagation();
              query.value = "";
            }
          }}
        />
      </div>
      {search.value
        ? (
          <SearchResults
            search={search.value}
            me={me}
            state={state}
            known={known}
            onMore={() => search.value?.next && run(search.value.query, search.value.next)}
            onPick={(u) => {
              query.value = "";
              state.openPerson(u);
              chat.openConversation(keyOf(u.name));
              onPick();
            }}
          />
        )
        : (
          <>
            <h2 class="people-heading">People</h2>
            {others.length === 0 && (
              <p class="people-empty">
                Nobody else is online. Find people by name above.
              </p>
            )}
            <ul class="conversations">
              {others.map((p) => (
                <li key={p.name}>
                  <PersonButton
                    person={p}
                    state={state}
                    known={known}
                    onClick={() => pick(keyOf(p.name))}
                  />
                </li>
              ))}
            </ul>
          </>
        )}
    </nav>
  );
}

function SearchResults(
  { search, me, state, known, onMore, onPick }: {
    search: Search;
    me: string;
    state: ChatState;
    known: boolean;
    onMore: () => void;
    onPick: (u: UserStatus) => void;
  },
) {
  const users = search.users.filter((u) => keyOf(u.name) !== me);
  return (
    <section class="search-results" aria-busy={search.state === "loading"}>
      <p class="sr-only" role="status">
        {search.state === "done" &&
          `${users.length}${search.next ? " or more" : ""} found`}
      </p>
      <h2 class="people-heading">
        Names starting with “<bdi>{search.query}</bdi>”
      </h2>
      {search.state === "done" && users.length === 0 && (
        <p class="people-empty">
          Nobody's name starts with “<bdi>{search.query}</bdi>”.
        </p>
      )}
      {search.state === "failed" && (
        <p class="people-empty">Search needs the connection; try again when it is back.</p>
      )}
      <ul class="conversations">
        {users.map((u) => {
          // A live presence is newer than what the search saw.
          const live = state.people.value.get(keyOf(u.name));
          const p: Person = live && known ? live : u;
          return (
            <li key={u.name}>
              <PersonButton person={p} state={state} known={known} onClick={() => onPick(u)} />
            </li>
          );
        })}
      </ul>
      {search.state === "loading" && <p class="people-empty">Searching…</p>}
      {search.state === "done" && search.next && (
        <button type="button" class="search-more" onClick={onMore}>Show more</button>
      )}
    </section>
  );
}

/** One person's row: name, presence (unknown while reconnecting), unread count. */
function PersonButton(
  { person: p, state, known, onClick }: {
    person: Person;
    state: ChatState;
    known: boolean;
    onClick: () => void;
  },
) {
  const key = keyOf(p.name);
  return (
    <ConversationButton
      label={p.name}
      detail={known ? statusText(p, state.me.value) : state.presenceUnknown.value}
      avatar={initial(p.name)}
      hueClass={`hue-${hue(p.name)}`}
      presence={!known ? "unknown" : p.typingTo !== undefined ? "typing" : p.state}
      current={state.active.value === key}
      unread={state.unread.value[key] ?? 0}
      mentions={state.mentioned.value[key] ?? 0}
      onClick={onClick}
    />
  );
}

function statusText(p: Person, me: string): string {
  if (p.typingTo !== undefined) {
    if (isRoom(p.typingTo)) return `typing in ${p.typingTo}…`;
    return keyOf(p.typingTo) === keyOf(me) ? "typing to you…" : "typing…";
  }
  return p.state === "offline" ? "offline" : "online";
}

interface ButtonProps {
  label: string;
  detail: string;
  avatar: string;
  hueClass: string;
  presence?: string;
  current: boolean;
  unread: number;
  /** Unread messages that mention the user. */
  mentions?: number;
  onClick: () => void;
}

function ConversationButton(p: ButtonProps) {
  const unreadText = (p.unread ? `, ${p.unread} unread` : "") +
    (p.mentions ? `, ${p.mentions} mention${p.mentions === 1 ? "" : "s"} of you` : "");
  return (
    <button
      type="button"
      class={`conversation${p.current ? " current" : ""}`}
      aria-current={p.current ? "true" : undefined}
      aria-label={`${p.label}, ${p.detail}${unreadText}`}
      data-conversation={p.label}
      onClick={p.onClick}
    >
      <span class={`avatar ${p.hueClass}`} aria-hidden="true">
        {p.avatar}
        {p.presence && <span class={`presence-dot ${p.presence}`} />}
      </span>
      <span class="conversation-text" aria-hidden="true">
        <span class="conversation-name" dir="auto">{p.label}</span>
        <span class={`conversation-detail ${p.presence ?? ""}`}>{p.detail}</span>
      </span>
      {p.unread > 0 && (
        <span class={`unread${p.mentions ? " has-mention" : ""}`} aria-hidden="true">
          {p.mentions ? "@ " : ""}
          {p.unread}
        </span>
      )}
    </button>
  );
}
