import { useSignal } from "@preact/signals";
import type { JSX } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { type ChatConnection, parseDraft } from "./chat_connection.ts";
import { EVERYONE, isRoom } from "./chat_state.ts";
import { byteBudget, utf8Length } from "./byte_budget.ts";
import { AttachButton, UploadList, useFileShare } from "./file_share.tsx";

const STORAGE_KEY = "parley.drafts";

/**
 * The input line. Enter sends, Shift+Enter starts a new line; `@name text` writes privately to
 * name, except in a room, where it mentions them in the room. Drafts are kept per conversation, also across reconnects and reloads (sessionStorage),
 * so nothing typed is lost. The length is counted in UTF-8 bytes, as the server counts it; near
 * the limit the composer says how much is left, and over it, by how much, and will not send —
 * nothing is ever cut. Files are shared from here too: the attach button, a pasted picture, or
 * a file dropped on the page (file_share.tsx).
 */
export function Composer({ chat }: { chat: ChatConnection }) {
  const { state } = chat;
  const active = state.active.value;
  const drafts = useSignal<Record<string, string>>({});
  const input = useRef<HTMLTextAreaElement>(null);
  const draft = drafts.value[active] ?? "";
  const body = parseDraft(draft, active).text;
  const budget = byteBudget(utf8Length(body), state.maxMessageBytes.value);
  const files = useFileShare(chat);

  useEffect(() => {
    try {
      drafts.value = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "{}");
    } catch { /* none saved */ }
  }, []);

  useEffect(() => input.current?.focus(), [active]);

  const setDraft = (text: string) => {
    drafts.value = { ...drafts.value, [active]: text };
    try {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(drafts.value));
    } catch { /* storage full or disabled: the draft still lives in memory */ }
  };

  const send = () => {
    const { to, text } = parseDraft(draft, active);
    if (!text || budget.over) return;
    chat.send(to, text);
    setDraft("");
  };

  const onKeyDown = (e: JSX.TargetedKeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  };

  const onInput = (e: JSX.TargetedEvent<HTMLTextAreaElement>) => {
    const text = e.currentTarget.value;
    setDraft(text);
    const { to, text: body } = parseDraft(text, active);
    if (body) chat.typing(to, true);
    else chat.typing(to, false);
  };

  const target = active === EVERYONE ? "everyone" : state.titleOf(active);
  return (
    <form
      class={`composer${files.dragging ? " dropping" : ""}`}
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <UploadList chat={chat} />
      {files.dragging && (
        <p class="drop-hint" role="status">
          {files.target ? `Drop to share with ${files.target}` : "Open a person or a room first"}
        </p>
      )}
      <AttachButton target={files.target} share={files.share} />
      <label for="composer-input" class="sr-only">Message to {target}</label>
      <textarea
        id="composer-input"
        ref={input}
        rows={1}
        dir="auto"
        placeholder={`Message ${target}…`}
        value={draft}
        onInput={onInput}
        onKeyDown={onKeyDown}
        onPaste={files.onPaste}
        aria-invalid={budget.over}
        aria-describedby="composer-budget composer-hint"
      />
      <button type="submit" class="send" aria-label="Send" disabled={!body || budget.over}>
        <svg viewBox="0 0 24 24" aria-hidden="true" width="20" height="20">
          <path d="M3.4 20.4 21 12 3.4 3.6 3.4 10.2 15 12 3.4 13.8z" fill="currentColor" />
        </svg>
      </button>
      <p
        id="composer-budget"
        class={`composer-budget${budget.over ? " over" : ""}${budget.label ? "" : " sr-only"}`}
        data-left={budget.left}
        aria-live={budget.over ? "polite" : "off"}
      >
        {budget.label}
        {budget.over && ` · the limit is ${state.maxMessageBytes.value} bytes; shorten it to send`}
      </p>
      <p id="composer-hint" class="composer-hint">
        Enter sends · Shift+Enter new line · <kbd>@name</kbd>{" "}
        {isRoom(active) ? "mentions someone" : "writes privately"}
      </p>
    </form>
  );
}
