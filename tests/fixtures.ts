/** Server events as tests feed them to clients: the defaults a signed-in `alice` sees. */
import type { ServerEvent } from "../lib/protocol/types.ts";

type Welcome = Extract<ServerEvent, { type: "welcome" }>;

/** A `welcome` for alice (English, nobody else listed, translation off), with `fields` over it. */
export function welcomeEvent(fields: Partial<Omit<Welcome, "type">> = {}): Welcome {
  return {
    type: "welcome",
    user: "alice",
    lang: "en",
    created: false,
    users: [],
    pending: 0,
    online: 1,
    translation: "off",
    ...fields,
  };
}
