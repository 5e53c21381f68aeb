import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { ChatConnection } from "./chat_connection.ts";
import type { ChatMessage, ChatState, OwnStatus } from "./chat_state.ts";
import { EVERYONE, isRoom } from "./chat_state.ts";
import { formatTime, hue, initial, isoTime } from "./format.ts";
import { FileCard } from "./file_card.tsx";
import { type TranslationLabel, translationLabel } from "./translation.ts";
import { callEntryWords } from "./call_words.ts";
import { MediaIcon } from "./call_icons.tsx";

const STATUS_TEXT: Record<OwnStatus, string> = {
  sending: "Sending…",
  retrying: "Kept, sending again",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  stored: "Stored until they sign in",
  failed: "Not sent",
};

/** Scrolled this close to the top, the page before is fetched. */
const LOAD_MARGIN_PX = 300;

/**
 * The open conversation, oldest first. Text is rendered as text (never as HTML). It is a `log`
 * region, so screen readers announce new messages; it scrolls to the newest unless the reader
 * scrolled up. Scrolled near the top, it loads the page before and keeps what the reader looks
 * at where it was. What is on screen in a visible, focused tab is marked read.
 */
export function MessageList({ state, chat }: { state: ChatState; chat?: ChatConnection }) {
  const list = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  /** The list's height and first message at the last render: a page put before them moves by the difference. */
  const before = useRef<{ height: number; first?: string; active: string }>({
    height: 0,
    active: "",
  });
  const messages = state.visible.value;
  const active = state.active.value;
  const more = state.more.value[active];

  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    const prev = before.current;
    const first = messages[0]?.id;
    if (stick.current || prev.active !== active) el.scrollTop = el.scrollHeight;
    else if (prev.first !== undefined && first !== prev.first) {
      // Older messages came in above: the one under the viewport stays put.
      el.scrollTop += el.scrollHeight - prev.height;
    }
    before.current = { height: el.scrollHeight, first, active };
    markSeen();
    // A first page too short to scroll: the next one is fetched at once.
    if (el.scrollHeight <= el.clientHeight && more) void chat?.loadOlder(active);
  }, [messages, active, more]);

  // Read marking waits for the tab to be seen.
  useEffect(() => {
    const again = () => markSeen();
    document.addEventListener("visibilitychange", again);
    globalThis.addEventListener("focus", again);
    return () => {
      document.removeEventListener("visibilitychange", again);
      globalThis.removeEventListener("focus", again);
    };
  }, [chat]);

  /** Marks read what the reader has on screen: only in a visible tab that has the focus. */
  function markSeen() {
    const el = list.current;
    if (!el || !chat || document.visibilityState !== "visible" || !document.hasFocus()) return;
    const conversation = state.active.value;
    const view = el.getBoundingClientRect();
    let newest: number | undefined;
    let any = false;
    for (const item of el.querySelectorAll<HTMLElement>("li.message[data-seq]")) {
      const box = item.getBoundingClientRect();
      // On screen: its bottom edge is within the list's box.
      if (box.bottom > view.top && box.bottom <= view.bottom + 1) {
        any = true;
        newest = Math.max(newest ?? 0, Number(item.dataset.seq));
      }
    }
    if (newest !== undefined) chat.seen(conversation, newest);
    else if (!any) chat.seen(conversation, undefined);
  }

  const onScroll = () => {
    const el = list.current!;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    before.current.height = el.scrollHeight;
    if (el.scrollTop < LOAD_MARGIN_PX && state.more.value[active]) void chat?.loadOlder(active);
    markSeen();
  };

  return (
    <ol
      ref={list}
      id="messages"
      class="messages"
      role="log"
      aria-live="polite"
      aria-label={`Messages with ${state.titleOf(active)}`}
      onScroll={onScroll}
      tabIndex={0}
    >
      {more && <li class="history-more" aria-hidden="true">Loading earlier messages…</li>}
      {more === false && messages.length > 0 && active !== EVERYONE && (
        <li class="history-start">
          {isRoom(active)
            ? `This is the start of ${state.titleOf(active)}.`
            : `This is the start of your conversation with ${state.titleOf(active)}.`}
        </li>
      )}
      {messages.length === 0 && (
        <li class="empty">
          {active === EVERYONE
            ? "No messages yet. Say hello to everyone!"
            : isRoom(active)
            ? `No messages in ${state.titleOf(active)} yet. Say hello!`
            : `This is the start of your private conversation with ${state.titleOf(active)}.`}
        </li>
      )}
      {messages.map((m, i) => (
        <MessageItem key={m.id} m={m} continued={continues(messages[i - 1], m)} />
      ))}
    </ol>
  );
}

/** Same sender within five minutes: no repeated name and avatar. */
function continues(prev: ChatMessage | undefined, m: ChatMessage): boolean {
  return !!prev && prev.from === m.from && prev.to === m.to && m.ts - prev.ts < 5 * 60_000 &&
    prev.offline === m.offline;
}

function MessageItem({ m, continued }: { m: ChatMessage; continued: boolean }) {
  if (m.call) return <CallItem m={m} />;
  const translation = translationLabel(m);
  const audience = m.to === "all" ? "to everyone" : isRoom(m.conversation) ? "" : m.own
    ? (
      <>
        privately to <bdi>{m.to}</bdi>
      </>
    )
    : "privately to you";
  return (
    <li
      class={`message${m.own ? " own" : ""}${continued ? " continued" : ""}${
        m.status === "failed" ? " failed" : ""
      }${translation ? ` ${translation.kind}` : ""}${m.mention ? " mention" : ""}`}
      data-id={m.id}
      data-seq={m.seq}
    >
      {continued
        ? <span class="avatar-space" aria-hidden="true" />
        : <span class={`avatar hue-${hue(m.from)}`} aria-hidden="true">{initial(m.from)}</span>}
      <div class="bubble">
        <p class="meta">
          <span class={continued ? "sender sr-only" : "sender"} dir="auto">
            {m.own ? "You" : m.from}
          </span>
          {audience && (
            <span
              class={`audience ${m.to === "all" ? "broadcast" : "private"}${
                continued ? " sr-only" : ""
              }`}
            >
              {audience}
            </span>
          )}
          <time dateTime={isoTime(m.ts)} title={new Date(m.ts).toLocaleString()}>
            {formatTime(m.ts)}
          </time>
          {m.offline && <span class="tag">while you were away</span>}
          {m.mention && <span class="tag mention-tag">mentions you</span>}
        </p>
        {(m.text || !m.file) && <p class="text" lang={m.lang} dir="auto">{m.text}</p>}
        {m.file && <FileCard file={m.file} />}
        {translation?.kind === "translated" && m.original && (
          <Translated m={m} label={translation} />
        )}
        {translation?.kind === "untranslated" && (
          <p class="translation untranslated-note">{translation.label}</p>
        )}
        {m.own && m.status && (
          <p class={`status ${m.status}`}>
            {isRoom(m.conversation) && m.readers && m.status === "sent"
              ? `Read by ${m.readers}`
              : STATUS_TEXT[m.status]}
            {m.error && `: ${m.error}`}
          </p>
        )}
      </div>
    </li>
  );
}

/** The entry a call left: a line of its own in the conversation, not a bubble. */
function CallItem({ m }: { m: ChatMessage }) {
  const call = m.call!;
  return (
    <li
      class={`message call-entry ${call.outcome}`}
      data-id={m.id}
      data-seq={m.seq}
      data-outcome={call.outcome}
    >
      <p class="call-line">
        <MediaIcon media={call.media} />
        <span class="call-words">{callEntryWords(call, m.own)}</span>
        <time dateTime={isoTime(m.ts)} title={new Date(m.ts).toLocaleString()}>
          {formatTime(m.ts)}
        </time>
      </p>
    </li>
  );
}

/**
 * The mark of a translated message, and the button that reveals what the sender wrote (inline,
 * in its language) and hides it again.
 */
function Translated(
  { m, label }: {
    m: ChatMessage;
    label: Extract<TranslationLabel, { kind: "translated" }>;
  },
) {
  const [open, setOpen] = useState(false);
  const original = m.original!;
  const id = `original-${m.id.replace(/[^\w-]/g, "_")}`;
  return (
    <>
      <p class="translation">
        <span class="translation-label" title={label.title}>
          {label.label}
        </span>
        <span class="translation-pair" aria-hidden="true">{label.pair}</span>
        <button
          type="button"
          class="show-original"
          aria-expanded={open}
          aria-controls={open ? id : undefined}
          onClick={() => setOpen(!open)}
        >
          {open ? "Hide original" : "Show original"}
        </button>
      </p>
      {open && (
        <div class="original-block" id={id}>
          <p class="original-heading">{label.originalHeading}</p>
          <p class="original" lang={original.lang} dir="auto">{original.text}</p>
        </div>
      )}
    </>
  );
}
