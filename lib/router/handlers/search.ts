import { nameKey } from "../../accounts/names.ts";
import type { Command, UserStatus } from "../../protocol/types.ts";
import type { Router } from "../router.ts";
import type { ClientSession } from "../client_session.ts";

/** Accounts in one `users` page unless the client asks for fewer. */
export const SEARCH_PAGE = 20;
/** The largest page a client may ask for. */
export const MAX_SEARCH_PAGE = 50;

/**
 * {"type":"search_users","query":"bo","cursor"?:"bob","limit"?:20}
 * One page of the accounts whose name starts with `query`, by name, each with its presence: how
 * a client finds anyone on a server with more accounts than a list can show. `next` is the last
 * key of a full page, and the cursor of the page after it.
 */
export async function handleSearchUsers(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "search_users" }>,
): Promise<void> {
  const after = cmd.cursor === undefined ? undefined : nameKey(cmd.cursor);
  // One more than asked for: whether a next page exists, without a second query.
  const rows = await router.store.searchUsers(nameKey(cmd.query), after, cmd.limit + 1);
  const page = rows.slice(0, cmd.limit);
  const users: UserStatus[] = page.map((u) => {
    const live = router.cluster.userOf(u.key);
    return { name: u.name, state: live ? "online" : "offline", lang: live?.lang ?? u.lang };
  });
  session.emit({
    type: "users",
    query: cmd.query,
    users,
    next: rows.length > cmd.limit ? page[page.length - 1].key : undefined,
    cid: cmd.cid,
  });
}
