import { acceptLanguage } from "../../accounts/names.ts";
import { signIn } from "../../accounts/sign_in.ts";
import {
  issueResumeToken,
  type ResumeGrant,
  resumeSignIn,
  revokeResumeTokens,
} from "../../accounts/resume_tokens.ts";
import type { Command, ServerEvent } from "../../protocol/types.ts";
import type { UserRecord } from "../../store/store.ts";
import { deliverPending } from "../pending.ts";
import { showInvites } from "../room_audience.ts";
import { startCatchUp } from "../catch_up.ts";
import { conversationList, privatePeers } from "../conversation_names.ts";
import { DeviceState } from "../device_state.ts";
import { type Router, WELCOME_LISTED_OFFLINE, WELCOME_LISTED_ONLINE } from "../router.ts";
import type { ClientSession } from "../client_session.ts";

export { MIN_PASSWORD_LENGTH } from "../../accounts/sign_in.ts";

/**
 * register / login / auth (text mode's "log in, or register when new").
 * {"type":"login","name":"alice","password":"...","lang":"en"}
 */
export async function handleAuth(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "register" | "login" | "auth" }>,
): Promise<void> {
  const { user, created, lang } = await signIn(router, {
    mode: cmd.type,
    name: cmd.name,
    password: cmd.password,
    lang: cmd.lang,
    remoteAddr: session.conn.remoteAddr,
  });
  // A JSON client with a device signs in again with a token, not the password (text mode has no
  // client to keep one).
  const resume = cmd.device !== undefined && session.conn.dialect === "json"
    ? await issueResumeToken(router, user.key, cmd.device)
    : undefined;
  await welcomeClient(router, session, {
    user,
    created,
    lang,
    device: cmd.device,
    resume,
    cid: cmd.cid,
  });
}

/**
 * {"type":"resume","name":N,"token":T,"device":D} — signs a device in again with the token its
 * last password sign-in gave it: no password hash. The welcome repeats the token with its new
 * expiry. A bad token is `bad_token` (the client asks for the password then).
 */
export async function handleResume(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "resume" }>,
): Promise<void> {
  const { user, grant } = await resumeSignIn(router, {
    name: cmd.name,
    token: cmd.token,
    device: cmd.device,
    remoteAddr: session.conn.remoteAddr,
  });
  const lang = cmd.lang === undefined
    ? undefined
    : acceptLanguage(cmd.lang, router.translation.languages());
  if (lang !== undefined && lang !== user.lang) await router.store.setLang(user.key, lang);
  await welcomeClient(router, session, {
    user,
    lang,
    device: cmd.device,
    resume: grant,
    cid: cmd.cid,
  });
}

/**
 * {"type":"logout"} — signs out: revokes every resume token of the user (each device then needs
 * its password again) and ends the connection, as `quit` does.
 */
export async function handleLogout(router: Router, session: ClientSession): Promise<void> {
  const user = session.user!;
  const revoked = await revokeResumeTokens(router, user.key);
  router.logger.info("signed out", { user: user.name, revoked });
  session.close("you signed out");
}

/** What `welcomeClient` needs to know about a sign-in that already succeeded. */
export interface Welcome {
  user: UserRecord;
  /** True when this sign-in created the account. */
  created?: boolean;
  /** A language asked for in this sign-in; otherwise a live session's, else the stored one. */
  lang?: string;
  /** The client's device id: it resumes at its cursor, with a catch-up. */
  device?: string;
  /** The device's resume token, for the welcome (`resume`). */
  resume?: ResumeGrant;
  cid?: string;
}

/**
 * The path after every sign-in, whatever proved the identity (a password frame, or a web
 * session cookie on a WebSocket): marks the session signed in, announces presence, sends the
 * welcome with the user list, then replays stored messages ahead of any live event.
 */
export async function welcomeClient(
  router: Router,
  session: ClientSession,
  { user, created = false, lang, device, resume, cid }: Welcome,
): Promise<void> {
  const key = user.key;
  if (session.closed) return;
  // Another session of the same user (on any node) may have changed the language meanwhile.
  const live = router.cluster.userOf(key);
  // With a device (the browser, the terminal client), the conversations come with the welcome:
  // their partners who are online are listed whatever the cap, so a client showing its
  // contacts knows their presence.
  const summaries = device !== undefined ? await router.store.conversations(key) : undefined;
  if (session.closed) return;

  // A language chosen at this sign-in is the account's language now, on every device.
  if (lang !== undefined) {
    for (const s of router.sessionsOf(key)) {
      if (s.user!.lang === lang) continue;
      s.user!.lang = lang;
      s.emit({ type: "lang", lang });
    }
    // The user's sessions on other nodes take it too.
    const elsewhere = router.cluster.remote.user(key);
    if (elsewhere && elsewhere.lang !== lang) router.cluster.tell([key], { type: "lang", lang });
  }
  if (device !== undefined) {
    const opened = await router.store.openDevice(key, device);
    if (session.closed) return;
    session.device = new DeviceState(device, opened.cursor);
  }
  // From here until the stored messages are out, live events for this session are held back.
  session.signedIn({ name: user.name, key, lang: lang ?? live?.lang ?? user.lang });
  session.holding = [];
  router.addOnline(session);
  router.stats.signIns++;
  // Listed from now on, when the session is told every change after this moment: a user who
  // came or went while the sign-in was under way is in the listing or in a presence frame, never
  // in neither (listed before going online, such a change was lost). One told in both says the
  // same thing twice.
  const users = await router.userList(
    WELCOME_LISTED_OFFLINE,
    WELCOME_LISTED_ONLINE,
    summaries ? privatePeers(summaries, key) : [],
  );
  if (!users.some((u) => u.name === user.name)) {
    users.push({ name: user.name, state: "online", lang: session.user!.lang });
  }
  for (const u of users) if (u.name === user.name) u.state = "online";
  // What this user's other sessions were given live is acknowledged before the replay reads.
  await router.liveAcks.idle(key);
  const welcome = (pending: number, sync: Partial<ServerEvent> = {}): ServerEvent => ({
    type: "welcome",
    user: user.name,
    lang: session.user!.lang,
    created,
    users,
    pending,
    online: router.cluster.onlineCount(),
    translation: router.translation.provider,
    ...sync,
    resume,
    cid,
  } as ServerEvent);
  if (session.device) {
    const { cursor } = session.device;
    const [seq, conversations, receipts] = await Promise.all([
      router.store.lastSeq(),
      conversationList(router, key, summaries),
      router.store.receiptsOn(key),
    ]);
    const sync = { device, cursor, seq, conversations, receipts };
    await startCatchUp(router, session, (pending) => welcome(pending, sync));
  } else {
    await deliverPending(router, session, (pending) => welcome(pending));
  }
  // Invitations still standing, after what was waiting: as if they had just come.
  await showInvites(router, session);
}

/** {"type":"lang","lang":"es"} — changes the preferred language of every session of the user. */
export async function handleLang(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "lang" }>,
): Promise<void> {
  const lang = acceptLanguage(cmd.lang, router.translation.languages());
  const user = session.user!;
  await router.store.setLang(user.key, lang);
  for (const s of router.sessionsOf(user.key)) s.user!.lang = lang;
  // The other nodes set it on their sessions of the user as they tell them.
  router.tellUsers([user.key], { type: "lang", lang }, session);
  session.emit({ type: "lang", lang, cid: cmd.cid });
}
