/**
 * A device id per browser tab (docs/protocol.md, "Devices"). The server keeps a cursor per
 * device and sends each device what it missed exactly once, so two tabs open at once must not
 * share an id (one would take the other's catch-up), and a tab reopened later should take up an
 * id a closed tab left, so it catches up from where that tab stopped instead of starting over.
 *
 * So the ids of a user live in this browser profile's localStorage, a small pool, and a tab
 * holds one with a Web Lock for as long as it is open (the browser releases the lock when the
 * tab closes or crashes). A new tab takes the first free id of the pool, or adds one. Without
 * Web Locks (old browsers) each tab keeps its own id in sessionStorage: a reload keeps it, a
 * closed tab's id is not reused.
 */

/** Ids kept per user and browser profile: more tabs at once than this get fresh ids. */
export const DEVICE_POOL = 8;

const poolKey = (user: string) => `parley.devices.${user.toLowerCase()}`;
const tabKey = (user: string) => `parley.device.${user.toLowerCase()}`;

/** Whether `id` is a device id the server takes: 1-64 printable ASCII, no spaces. */
export function validDeviceId(id: unknown): id is string {
  return typeof id === "string" && /^[\x21-\x7e]{1,64}$/.test(id);
}

/** A fresh id: "web-" and 16 random hex digits. */
export function newDeviceId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Reads the saved pool of ids (newest use first); [] when none or unreadable. */
export function loadPool(storage: Storage | undefined, user: string): string[] {
  try {
    const saved: unknown = JSON.parse(storage?.getItem(poolKey(user)) ?? "[]");
    return Array.isArray(saved) ? saved.filter(validDeviceId).slice(0, DEVICE_POOL) : [];
  } catch {
    return [];
  }
}

function savePool(storage: Storage | undefined, user: string, ids: string[]): void {
  try {
    storage?.setItem(poolKey(user), JSON.stringify(ids.slice(0, DEVICE_POOL)));
  } catch { /* storage full or disabled: the id lasts this visit */ }
}

/** A device id this tab holds, and how to give it back (signing out, another user). */
export interface DeviceClaim {
  id: string;
  release: () => void;
}

/**
 * Claims this tab's device id for `user`: a free one of the pool (held until the tab closes or
 * `release`), or a new one. Resolves quickly; never rejects.
 */
export async function claimDeviceId(user: string): Promise<DeviceClaim> {
  const local = storageOf("localStorage");
  const session = storageOf("sessionStorage");
  // A reload of the same tab keeps its id (its lock went with the old page).
  const mine = session?.getItem(tabKey(user));
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) {
    const id = validDeviceId(mine) ? mine : newDeviceId();
    try {
      session?.setItem(tabKey(user), id);
    } catch { /* kept for this page only */ }
    return { id, release: () => {} };
  }
  const pool = loadPool(local, user);
  const candidates = validDeviceId(mine) ? [mine, ...pool.filter((id) => id !== mine)] : pool;
  for (const id of candidates) {
    const release = await hold(locks, user, id);
    if (release) return { id: remember(local, session, user, pool, id), release };
  }
  const id = newDeviceId();
  const release = await hold(locks, user, id) ?? (() => {});
  return { id: remember(local, session, user, pool, id), release };
}

function remember(
  local: Storage | undefined,
  session: Storage | undefined,
  user: string,
  pool: string[],
  id: string,
): string {
  // The one in use goes first: the least recently used drops out of a full pool.
  savePool(local, user, [id, ...pool.filter((x) => x !== id)]);
  try {
    session?.setItem(tabKey(user), id);
  } catch { /* kept for this page only */ }
  return id;
}

/**
 * Takes the lock of `id` if no other tab holds it, until the page goes away or the returned
 * function is called; undefined when it is taken.
 */
function hold(
  locks: LockManager,
  user: string,
  id: string,
): Promise<(() => void) | undefined> {
  return new Promise((resolve) => {
    locks.request(
      `parley-device:${user.toLowerCase()}:${id}`,
      { ifAvailable: true },
      (lock) => {
        if (!lock) return resolve(undefined);
        const { promise, resolve: release } = Promise.withResolvers<void>();
        resolve(() => release());
        return promise;
      },
    ).catch(() => resolve(undefined));
  });
}

function storageOf(name: "localStorage" | "sessionStorage"): Storage | undefined {
  try {
    return globalThis[name];
  } catch {
    return undefined;
  }
}
