import type { Bus } from "../bus/mod.ts";
import type { Store, UserRecord } from "./store.ts";

/** The bus message that says a node changed the users (created one, changed a language...). */
export const USERS_CHANGED = "users-changed";

/** How long a user list is reused before it is read again (changes made on other nodes). */
export const USER_LIST_TTL_MS = 2000;

/**
 * The same store, with `listUsers` answered from memory: every sign-in's `welcome` (and every
 * `who`) lists users, and in a sign-in storm (everyone back after a restart) reading and
 * decoding up to 1,200 rows each time was a sixth of the server's CPU. Accounts created and
 * languages and password hashes changed through this store update the copy as they commit. With
 * a `bus`, each such change is told to the other nodes (workers or machines), whose copies are
 * then read again at their next list; without one, changes made elsewhere show within `ttlMs`.
 */
export function cachedUserList(store: Store, ttlMs = USER_LIST_TTL_MS, bus?: Bus): Store {
  /**
   * The first `limit` users by key, as the store lists them; `complete` once a read came back
   * shorter than its limit (then it is the whole table, and serves any limit).
   */
  let cached:
    | { limit: number; at: number; users: Promise<UserRecord[]>; complete?: boolean }
    | undefined;
  const listUsers = (limit: number): Promise<UserRecord[]> => {
    const now = performance.now();
    const fits = cached && (cached.limit >= limit || cached.complete);
    if (!cached || !fits || now - cached.at >= ttlMs) {
      const entry: NonNullable<typeof cached> = { limit, at: now, users: store.listUsers(limit) };
      cached = entry;
      entry.users.then(
        (users) => void (entry.complete = users.length < limit),
        // A failed read is not kept.
        () => void (cached === entry && (cached = undefined)),
      );
    }
    return cached.users.then((users) => users.slice(0, limit));
  };
  /** Applies a committed change to the kept list once it is read (a failed read drops it). */
  const update = (
    change: (users: UserRecord[], entry: NonNullable<typeof cached>) => UserRecord[],
  ) => {
    const entry = cached;
    if (!entry) return;
    const next = entry.users.then((users) => change(users, entry));
    entry.users = next;
    next.catch(() => void (cached === entry && (cached = undefined)));
  };
  const created = (user: UserRecord) =>
    update((users, entry) => {
      if (users.some((u) => u.key === user.key)) return users;
      const at = users.findIndex((u) => u.key > user.key);
      // Past the end of a full list: not among the first `limit`.
      if (at === -1 && users.length >= entry.limit) return users;
      const next = users.slice();
      // A copy: the caller keeps its own object.
      next.splice(at === -1 ? next.length : at, 0, { ...user });
      // Grown past its limit, the list is no longer the whole table.
      if (next.length > entry.limit) entry.complete = false;
      return next.slice(0, entry.limit);
    });
  const changed = (key: string, fields: Partial<UserRecord>) =>
    update((users) => users.map((u) => u.key === key ? { ...u, ...fields } : u));
  // Another node changed the users: its copy is right, this one is read again when next needed.
  bus?.subscribe((m) => {
    if (m.kind === USERS_CHANGED) cached = undefined;
  });
  const tell = () => bus?.publish({ kind: USERS_CHANGED });

  // Methods run on the store itself (a backend's private fields are not on the proxy).
  const methods = new Map<PropertyKey, unknown>([
    ["listUsers", listUsers],
    ["createUser", async (user: UserRecord) => {
      await store.createUser(user);
      created(user);
      tell();
    }],
    ["setLang", async (key: string, lang: string) => {
      await store.setLang(key, lang);
      changed(key, { lang });
      tell();
    }],
    ["setPasswordHash", async (key: string, passwordHash: string) => {
      await store.setPasswordHash(key, passwordHash);
      changed(key, { passwordHash });
      tell();
    }],
  ]);
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof value !== "function") return value;
      let method = methods.get(property);
      if (!method) methods.set(property, method = value.bind(target));
      return method;
    },
  });
}
