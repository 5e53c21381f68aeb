import { useEffect, useRef, useState } from "preact/hooks";
import type { ChatMessage, ChatState, OwnStatus } from "./chat_state.ts";
import { EVERYONE } from "./chat_state.ts";
import { formatTime, hue, initial, isoTime } from "./format.ts";
import { type TranslationLabel, translationLabel } from "./translation.ts";

const STATUS_TEXT: Record<OwnStatus, string> = {
  sending: "Sending…",
  retrying: "Kept, sending again",
  sent: "Sent",
  delivered: "Delivered",
  stored: "Stored until they sign in",
  failed: "Not sent",
};

/**
 * The open conversation, oldest first. Text is rendered as text (never as HTML). It is a `log`
 * region, so screen readers announce new messages; it scrolls to the newest unless the reader
 * scrolled up.
 */
export function MessageList({ state }: { state: ChatState }) {
  const list = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const messages = state.visible.value;
  const active = state.active.value;

  useEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [messages, active]);

  const onScroll = () => {
    const el = list.current!;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
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
      {messages.length === 0 && (
        <li class="empty">
          {active === EVERYONE
            ? "No messages yet. Say hello to everyone!"
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
  const translation = translationLabel(m);
  const audience = m.to === "all" ? "to everyone" : m.own
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
      }${translation ? ` ${translation.kind}` : ""}`}
      data-id={m.id}
    >
      {continued
        ? <span class="avatar-space" aria-hidden="true" />
        : <span class={`avatar hue-${hue(m.from)}`} aria-hidden="true">{initial(m.from)}</span>}
      <div class="bubble">
        <p class="meta">
          <span class={continued ? "sender sr-only" : "sender"} dir="auto">
            {m.own ? "You" : m.from}
          </span>
          <span
            class={`audience ${m.to === "all" ? "broadcast" : "private"}${
              continued ? " sr-only" : ""
            }`}
          >
            {audience}
          </span>
          <time dateTime={isoTime(m.ts)} title={new Date(m.ts).toLocaleString()}>
            {formatTime(m.ts)}
          </time>
          {m.offline && <span class="tag">while you were away</span>}
        </p>
        <p class="text" lang={m.lang} dir="auto">{m.text}</p>
        {translation?.kind === "translated" && m.original && (
          <Translated m={m} label={translation} />
        )}
        {translation?.kind === "untranslated" && (
          <p class="translation untranslated-note">{translation.label}</p>
        )}
        {m.own && m.status && (
          <p class={`status ${m.status}`}>
            {STATUS_TEXT[m.status]}
            {m.error && `: ${m.error}`}
          </p>
        )}
      </div>
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
