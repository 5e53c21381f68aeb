import type { ChatState } from "./chat_state.ts";

/** Says when the connection is down and what happens next; hidden while online. */
export function ConnectionBanner({ state }: { state: ChatState }) {
  const c = state.connection.value;
  let text = "";
  if (c.state === "offline") {
    const s = Math.max(1, Math.round(c.retryInMs / 1000));
    text =
      `Connection lost. Reconnecting in ${s} s… Your messages are kept and sent when it is back.`;
  } else if (c.state === "connecting" && c.attempt > 0) {
    text = "Reconnecting…";
  } else if (c.state === "connecting") {
    text = "Connecting…";
  } else if (c.state === "closed") {
    text = `Disconnected: ${c.reason}. Reload the page to connect again.`;
  }
  return (
    <div
      class={`banner ${c.state}${text ? "" : " hidden"}`}
      role="status"
      data-state={c.state}
    >
      {text}
    </div>
  );
}
