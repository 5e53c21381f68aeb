/**
 * Desktop notifications for mentions and private messages while the tab is in the background.
 * Permission is asked only on a user's action (the bell button), never on load: browsers
 * penalize pages that ask unprompted, and users dismiss such prompts.
 */
import { callEntryWords } from "./call_words.ts";
import { signal } from "@preact/signals";
import type { ChatMessage, ChatState } from "./chat_state.ts";
import { EVERYONE, isRoom, summary } from "./chat_state.ts";

/** Where notifications stand: unsupported, not asked, allowed, refused, or turned off here. */
export type NotifyState = "unsupported" | "default" | "granted" | "denied" | "off";

const OFF_KEY = "parley.notifications.off";

/** Whether `m` is worth a desktop notification: a private message, or one that mentions you. */
export function notifies(m: ChatMessage): boolean {
  if (m.own || m.offline || m.history) return false;
  return m.mention === true || (m.conversation !== EVERYONE && !isRoom(m.conversation));
}

/** Whether the page is out of the user's sight (another tab, window minimized or unfocused). */
export function inBackground(): boolean {
  return document.visibilityState !== "visible" || !document.hasFocus();
}

export class Notifier {
  readonly state = signal<NotifyState>("unsupported");

  constructor() {
    const api = (globalThis as { Notification?: typeof Notification }).Notification;
    if (!api) return;
    this.state.value = api.permission === "granted" && readOff()
      ? "off"
      : api.permission as NotifyState;
  }

  /** The bell: asks permission the first time, then turns notifications off and on. */
  async toggle(): Promise<void> {
    const api = (globalThis as { Notification?: typeof Notification }).Notification;
    if (!api) return;
    if (this.state.value === "granted") return this.#off(true);
    if (this.state.value === "off") return this.#off(false);
    const answer = await api.requestPermission();
    this.state.value = answer as NotifyState;
    if (answer === "granted") writeOff(false);
  }

  /**
   * Shows a notification for `m` when it deserves one and the tab is in the background; a click
   * brings the tab forward and `open`s the conversation (with its history, as the list does).
   */
  incoming(m: ChatMessage, state: ChatState, open: (conversation: string) => void): void {
    if (this.state.value !== "granted" || !notifies(m) || !inBackground()) return;
    const where = m.conversation === EVERYONE
      ? "to everyone"
      : isRoom(m.conversation)
      ? `in ${state.titleOf(m.conversation)}`
      : "privately";
    try {
      const n = new Notification(`${m.from} ${where}`, {
        body: m.call ? callEntryWords(m.call, m.own) : summary(m).slice(0, 200),
        tag: `parley-${m.conversation}`,
      });
      n.onclick = () => {
        globalThis.focus();
        open(m.conversation);
        n.close();
      };
    } catch { /* some browsers allow notifications only from a service worker */ }
  }

  /** Says that `peer` is calling, when notifications are on and the tab in the background. */
  ringing(peer: string, media: "audio" | "video"): void {
    if (this.state.value !== "granted" || !inBackground()) return;
    try {
      const n = new Notification(`${peer} is calling you`, {
        body: media === "video"
          ? "Video call: open Parley to answer."
          : "Voice call: open Parley to answer.",
        tag: "parley-call",
        requireInteraction: true,
      });
      n.onclick = () => {
        globalThis.focus();
        n.close();
      };
    } catch { /* some browsers allow notifications only from a service worker */ }
  }

  #off(off: boolean): void {
    writeOff(off);
    this.state.value = off ? "off" : "granted";
  }
}

function readOff(): boolean {
  try {
    return globalThis.localStorage?.getItem(OFF_KEY) === "1";
  } catch {
    return false;
  }
}

function writeOff(off: boolean): void {
  try {
    if (off) globalThis.localStorage?.setItem(OFF_KEY, "1");
    else globalThis.localStorage?.removeItem(OFF_KEY);
  } catch { /* kept for this visit */ }
}
