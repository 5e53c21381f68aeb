import { useSignal } from "@preact/signals";
import { Fragment } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { ChatConnection } from "./chat_connection.ts";
import { EVERYONE, isRoom, keyOf } from "./chat_state.ts";
import { CallButtons, CallPanel } from "./call_panel.tsx";
import { Composer } from "./composer.tsx";
import { ConnectionBanner } from "./connection_banner.tsx";
import { hue, initial } from "./format.ts";
import { LanguagePicker } from "./language_picker.tsx";
import { MessageList } from "./message_list.tsx";
import { RoomDialog } from "./room_dialog.tsx";
import { RoomPanel } from "./room_panel.tsx";
import { Settings } from "./settings.tsx";
import { translationNotice } from "./translation.ts";
import { UserList } from "./user_list.tsx";

interface Props {
  chat: ChatConnection;
  onLogout: () => void;
}

/**
 * The signed-in window: conversations and people on the side (a drawer on phones), the open
 * conversation, and the input line.
 */
export function ChatWindow({ chat, onLogout }: Props) {
  const { state } = chat;
  const peopleOpen = useSignal(false);
  const roomDialog = useSignal(false);
  const me = state.me.value;
  const active = state.active.value;
  const total = state.totalUnread.value;
  const toggle = useRef<HTMLButtonElement>(null);
  const closer = useRef<HTMLButtonElement>(null);
  const closePeople = (refocus: boolean) => {
    peopleOpen.value = false;
    if (refocus) toggle.current?.focus();
  };

  const call = chat.calls.call.value;
  const ringing = call?.phase === "incoming" ? call.peer : undefined;
  useEffect(() => {
    // A call ringing shows in the tab's title too, so a tab in the background says so.
    document.title = ringing
      ? `Call from ${ringing} · Parley`
      : total
      ? `(${total}) Parley`
      : "Parley";
  }, [total, ringing]);

  const room = isRoom(active) ? state.rooms.value.get(active) : undefined;
  const peer = active === EVERYONE || room ? undefined : state.people.value.get(active);
  const presence = !state.presenceKnown.value
    ? state.presenceUnknown.value
    : peer && peer.state !== "offline"
    ? "online"
    : "offline: messages wait for them";
  const subtitle = active === EVERYONE
    ? "Messages to everyone online"
    : room
    ? room.topic || (room.visibility === "invite" ? "Invite-only room" : "Public room")
    : `Private conversation · ${presence}`;
  const typing = state.typingHere.value;
  const translationOff = translationNotice(state.translation.value);

  return (
    <div
      class={`chat${peopleOpen.value ? " people-open" : ""}`}
      onKeyDown={(e) => {
        if (e.key === "Escape" && peopleOpen.value) closePeople(true);
      }}
    >
      <nav class="skip-links" aria-label="Skip links">
        <a class="skip-link" href="#composer-input" onClick={skipTo("composer-input")}>
          Skip to the message input
        </a>
        <a class="skip-link" href="#messages" onClick={skipTo("messages")}>
          Skip to the messages
        </a>
      </nav>
      <header class="topbar">
        <button
          ref={toggle}
          type="button"
          class="people-toggle"
          aria-controls="people-panel"
          aria-expanded={peopleOpen.value}
          aria-label={`Conversations${total ? `, ${total} unread` : ""}`}
          onClick={() => {
            peopleOpen.value = !peopleOpen.value;
            // Into the drawer, so a keyboard user is where the list is.
            if (peopleOpen.value) setTimeout(() => closer.current?.focus(), 0);
          }}
        >
          <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <path d="M4 6h16M4 12h16M4 18h16" stroke="currentColor" stroke-width="2" />
          </svg>
          {total > 0 && <span class="unread" aria-hidden="true">{total}</span>}
        </button>
        <div class="brand">
          <span class="brand-mark" aria-hidden="true">P</span>
          <span class="brand-name">Parley</span>
        </div>
        <div class="topbar-end">
          {state.serverFingerprint.value && (
            <span
              class={`secured${state.connection.value.state === "online" ? "" : " pending"}`}
              title={`Encrypted session with the server whose identity is ${state.serverFingerprint.value}`}
            >
              {state.connection.value.state === "online" ? "Connection secured" : "Secured"}
              {" · "}
              <code class="fingerprint">{state.serverFingerprint.value}</code>
            </span>
          )}
          <Settings chat={chat} />
          <LanguagePicker chat={chat} />
          <span class="me" title={`Signed in as ${me}`}>
            <span class={`avatar small hue-${hue(me)}`} aria-hidden="true">{initial(me)}</span>
            <span class="me-name" dir="auto">{me}</span>
          </span>
          <button type="button" class="logout" onClick={onLogout}>Sign out</button>
        </div>
      </header>
      <aside id="people-panel" class="sidebar" aria-label="Conversations and people">
        <div class="drawer-head">
          <span class="drawer-title">Conversations</span>
          <button
            ref={closer}
            type="button"
            class="people-close"
            aria-label="Close the list of conversations"
            onClick={() => closePeople(true)}
          >
            <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
              <path d="M6 6l12 12M18 6 6 18" stroke="currentColor" stroke-width="2" />
            </svg>
          </button>
        </div>
        <UserList
          chat={chat}
          onPick={() => closePeople(false)}
          onNewRoom={() => roomDialog.value = true}
        />
      </aside>
      <div
        class="scrim"
        aria-hidden="true"
        onClick={() => closePeople(false)}
      />
      <main class="pane">
        <header class="pane-header">
          {!room && active !== EVERYONE && active !== keyOf(me) && (
            <CallButtons calls={chat.calls} peer={state.titleOf(active)} />
          )}
          <h1 class="pane-title" dir="auto">{state.titleOf(active)}</h1>
          <p class="pane-subtitle" dir={room ? "auto" : undefined}>{subtitle}</p>
          {translationOff && <p class="translation-off">{translationOff}</p>}
        </header>
        <CallPanel calls={chat.calls} />
        {room && <RoomPanel key={active} chat={chat} room={active} />}
        <ConnectionBanner state={state} />
        <MessageList state={state} chat={chat} />
        <p class="typing-line" aria-hidden={typing.length === 0}>
          {typing.length > 0 && (
            <>
              {typing.map((name, i) => (
                <Fragment key={name}>
                  {i > 0 && ", "}
                  <bdi>{name}</bdi>
                </Fragment>
              ))}
              {` ${typing.length === 1 ? "is" : "are"} typing…`}
            </>
          )}
        </p>
        {state.notice.value && <p class="notice" role="alert">{state.notice.value}</p>}
        <Composer chat={chat} />
      </main>
      <div class="sr-only" aria-live="polite" aria-atomic="true">{state.announcement.value}</div>
      <RoomDialog chat={chat} open={roomDialog.value} onClose={() => roomDialog.value = false} />
    </div>
  );
}

/**
 * A skip link's click: moves the focus to its target (a fragment link alone scrolls, but does
 * not focus a textarea or list in every browser).
 */
function skipTo(id: string) {
  return (e: Event) => {
    const target = document.getElementById(id);
    if (!target) return;
    e.preventDefault();
    target.focus();
  };
}
