import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import type { ChatSession } from "./chat_session.ts";
import { EVERYONE } from "./chat_state.ts";
import { Composer } from "./composer.tsx";
import { ConnectionBanner } from "./connection_banner.tsx";
import { hue, initial } from "./format.ts";
import { LanguagePicker } from "./language_picker.tsx";
import { MessageList } from "./message_list.tsx";
import { translationNotice } from "./translation.ts";
import { UserList } from "./user_list.tsx";

interface Props {
  session: ChatSession;
  onLogout: () => void;
}

/**
 * The signed-in window: conversations and people on the side (a drawer on phones), the open
 * conversation, and the input line.
 */
export function ChatWindow({ session, onLogout }: Props) {
  const { state } = session;
  const peopleOpen = useSignal(false);
  const me = state.me.value;
  const active = state.active.value;
  const total = state.totalUnread.value;

  useEffect(() => {
    document.title = total ? `(${total}) Parley` : "Parley";
  }, [total]);

  const peer = active === EVERYONE ? undefined : state.people.value.get(active);
  const subtitle = peer
    ? `Private conversation · ${
      peer.state === "offline" ? "offline: messages wait for them" : "online"
    }`
    : "Messages to everyone online";
  const typing = state.typingHere.value;
  const translationOff = translationNotice(state.translation.value);

  return (
    <div
      class={`chat${peopleOpen.value ? " people-open" : ""}`}
      onKeyDown={(e) => {
        if (e.key === "Escape" && peopleOpen.value) peopleOpen.value = false;
      }}
    >
      <header class="topbar">
        <button
          type="button"
          class="people-toggle"
          aria-controls="people-panel"
          aria-expanded={peopleOpen.value}
          aria-label={`Conversations${total ? `, ${total} unread` : ""}`}
          onClick={() => peopleOpen.value = !peopleOpen.value}
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
          <LanguagePicker session={session} />
          <span class="me" title={`Signed in as ${me}`}>
            <span class={`avatar small hue-${hue(me)}`} aria-hidden="true">{initial(me)}</span>
            <span class="me-name">{me}</span>
          </span>
          <button type="button" class="logout" onClick={onLogout}>Sign out</button>
        </div>
      </header>
      <aside id="people-panel" class="sidebar">
        <UserList state={state} onPick={() => peopleOpen.value = false} />
      </aside>
      <div
        class="scrim"
        aria-hidden="true"
        onClick={() => peopleOpen.value = false}
      />
      <main class="pane">
        <header class="pane-header">
          <h1 class="pane-title">{state.titleOf(active)}</h1>
          <p class="pane-subtitle">{subtitle}</p>
          {translationOff && <p class="translation-off">{translationOff}</p>}
        </header>
        <ConnectionBanner state={state} />
        <MessageList state={state} />
        <p class="typing-line" aria-hidden={typing.length === 0}>
          {typing.length > 0 &&
            `${typing.join(", ")} ${typing.length === 1 ? "is" : "are"} typing…`}
        </p>
        {state.notice.value && <p class="notice" role="alert">{state.notice.value}</p>}
        <Composer session={session} />
      </main>
      <div class="sr-only" aria-live="polite" aria-atomic="true">{state.announcement.value}</div>
    </div>
  );
}
