/**
 * The people a user has talked to, kept in this browser (localStorage, per user): the welcome's
 * `conversations` lists those with stored messages, and this keeps the rest (people opened or
 * found by a search) across visits. Names only, never messages.
 */
import { MAX_CONTACTS } from "./chat_state.ts";

const key = (user: string) => `parley.contacts.${user.toLowerCase()}`;

/** The names saved for `user`, most recent first; [] when none or storage is unavailable. */
export function loadContacts(storage: Storage | undefined, user: string): string[] {
  try {
    const saved: unknown = JSON.parse(storage?.getItem(key(user)) ?? "[]");
    if (!Array.isArray(saved)) return [];
    return saved.filter((n): n is string => typeof n === "string" && n.length <= 64)
      .slice(0, MAX_CONTACTS);
  } catch {
    return [];
  }
}

/** Saves `names` for `user`; a full or disabled storage keeps them for this visit only. */
export function saveContacts(
  storage: Storage | undefined,
  user: string,
  names: readonly string[],
): void {
  try {
    storage?.setItem(key(user), JSON.stringify(names));
  } catch { /* storage full or disabled */ }
}
