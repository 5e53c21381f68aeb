import type { ChatConnection } from "./chat_connection.ts";

const BELL_LABEL = {
  unsupported: "This browser cannot show notifications",
  default: "Notify me of mentions and private messages",
  granted: "Notifications are on: turn them off",
  off: "Notifications are off: turn them on",
  denied: "Notifications are blocked in the browser's site settings",
} as const;

/**
 * The window's two switches: desktop notifications (the bell; the browser asks permission
 * on its first press, never on load) and whether this user sends read receipts.
 */
export function Settings({ chat }: { chat: ChatConnection }) {
  const notify = chat.notifier.state.value;
  const receipts = chat.state.receipts.value;
  const on = notify === "granted";
  return (
    <span class="settings">
      <button
        type="button"
        class={`bell${on ? " on" : ""}`}
        aria-pressed={on}
        aria-label={BELL_LABEL[notify]}
        title={BELL_LABEL[notify]}
        disabled={notify === "unsupported" || notify === "denied"}
        onClick={() => void chat.notifier.toggle()}
      >
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
          <path
            d="M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0"
            fill={on ? "currentColor" : "none"}
            stroke="currentColor"
            stroke-width="2"
            stroke-linejoin="round"
          />
          {!on && <path d="M4 4l16 16" stroke="currentColor" stroke-width="2" />}
        </svg>
      </button>
      <label class="receipts-toggle" title="Let senders see when you have read their messages">
        <input
          type="checkbox"
          id="receipts-toggle"
          checked={receipts}
          onChange={(e) => void chat.setReceipts(e.currentTarget.checked)}
        />{" "}
        Read receipts
      </label>
    </span>
  );
}
