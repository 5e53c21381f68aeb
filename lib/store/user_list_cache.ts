import type { Store, UserRecord } from "./store.ts";

/** How long a user list is reused before it is read again (changes made on other nodes). */
export const USER_LIST_TTL_MS = 2000;

/**
 * The same store, with `listUsers` answered from memory: every sign-in's `welcome` (and every
 * `who`) lists users, and in a sign-in storm (everyone back after a restart) reading and
 * decoding up to 1,200 rows each time was a sixth of the server's CPU. Accounts created and
 * languages changed through this store update the copy as they commit; changes made elsewhere
 * (another node) show within `ttlMs`.
 */
export function cachedUserList(store: Store, ttlMs = USER_LIST_TTL_MS): Store {
  /** The first `limit` users by key, as the store lists them. */
  let cached: { limit: number; at: number; users: Promise<UserRecord[]> } | undefined;
  const listUsers = (limit: number): Promise<UserRecord[]> => {
    const now = performance.now();
    if (!cached || cached.limit < limit || now - cached.at >= ttlMs) {
      const entry = { limit, at: now, users: store.listUsers(limit) };
      cached = entry;
      // A failed read is not kept.
      entry.users.catch(() => void (cached === entry && (cached = undefined)));
    }
    return cached.users.then((users) => users.slice(0, limit));
  };
  const update = (change: (users: UserRecord[], limit: number) => UserRecord[]) => {
    const entry = cached;
    if (entry) entry.users = entry.users.then((users) => change(users, entry.limit));
  };
  const created = (user: UserRecord) =>
    update((users, limit) => {
      if (users.some((u) => u.key === user.key)) return users;
      const at = users.findIndex((u) => u.key > user.key);
      // Past the end of a full list: not among the first `limit`.
      if (at === -1 && users.length >= limit) return users;
      const next = users.slice();
      next.splice(at === -1 ? next.length : at, 0, user);
      return next.slice(0, limit);
    });
  const langChanged = (key: string, lang: string) =>
    update((users) => users.map((u) => u.key === key ? { ...u, lang } : u));

  // Methods run on the store itself (a backend's private fields are not on the proxy).
  const methods = new Map<PropertyKey, unknown>([
    ["listUsers", listUsers],
    ["createUser", async (user: UserRecord) => {
      await store.createUser(user);
      created(user);
    }],
    ["setLang", async (key: string, lang: string) => {
      await store.setLang(key, lang);
      langChanged(key, lang);
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
