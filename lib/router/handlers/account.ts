import { nameKey, normalizeLang, validateName } from "../../accounts/names.ts";
import { hashPassword, verifyPassword } from "../../accounts/password.ts";
import { ParleyError } from "../../errors.ts";
import type { Command } from "../../protocol/types.ts";
import type { UserRecord } from "../../store/store.ts";
import { deliverPending } from "../pending.ts";
import type { Router } from "../router.ts";
import type { Session } from "../session.ts";

/** Shortest password accepted at registration (NIST SP 800-63B's minimum). */
export const MIN_PASSWORD_LENGTH = 8;

const DEFAULT_LANG = "en";

// Verified against when the name is unknown, so a miss costs as long as a wrong password.
let decoyHash: Promise<string> | undefined;

/**
 * register / login / auth (text mode's "log in, or register when new").
 * {"type":"login","name":"alice","password":"...","lang":"en"}
 */
export async function handleAuth(
  router: Router,
  session: Session,
  cmd: Extract<Command, { type: "register" | "login" | "auth" }>,
): Promise<void> {
  const key = nameKey(cmd.name);
  const throttleKeys = [`name:${key}`, `addr:${session.conn.remoteAddr}`];
  const wait = router.throttle.waitMs(throttleKeys);
  if (wait > 0) {
    throw new ParleyError("throttled", "Too many failed sign-ins; wait before trying again.", {
      retryAfter: wait / 1000,
    });
  }
  const lang = cmd.lang === undefined ? undefined : normalizeLang(cmd.lang);
  let user = await router.store.getUser(key);
  let created = false;

  if (cmd.type === "register" || (cmd.type === "auth" && !user)) {
    if (user) throw new ParleyError("name_taken", `'${user.name}' is already registered.`);
    validateName(cmd.name);
    if ([...cmd.password].length < MIN_PASSWORD_LENGTH) {
      throw new ParleyError(
        "bad_argument",
        `Passwords need at least ${MIN_PASSWORD_LENGTH} characters.`,
      );
    }
    user = {
      name: cmd.name,
      key,
      passwordHash: await hashPassword(cmd.password, router.kdfIterations),
      lang: lang ?? DEFAULT_LANG,
      createdAt: Date.now(),
    } satisfies UserRecord;
    await router.store.createUser(user);
    created = true;
    router.logger.info("registered", { user: user.name, from: session.conn.remoteAddr });
  } else {
    decoyHash ??= hashPassword(crypto.randomUUID(), router.kdfIterations);
    const ok = await verifyPassword(cmd.password, user?.passwordHash ?? await decoyHash);
    if (!user || !ok) {
      router.throttle.fail(throttleKeys);
      router.logger.info("sign-in failed", { name: cmd.name, from: session.conn.remoteAddr });
      throw new ParleyError("bad_credentials", "Wrong name or password.");
    }
    router.throttle.succeed(throttleKeys[0]);
    if (lang && lang !== user.lang) {
      await router.store.setLang(key, lang);
      user.lang = lang;
    }
  }
  if (session.closed) return;
  // Another session of the same user may have changed the language meanwhile.
  const live = router.sessionsOf(key).values().next().value?.user;
  const users = await router.userList();
  if (session.closed) return;

  // From here until the stored messages are out, live events for this session are held back.
  session.signedIn({ name: user.name, key, lang: lang ?? live?.lang ?? user.lang });
  session.holding = [];
  router.addOnline(session);
  router.stats.signIns++;
  if (!users.some((u) => u.name === user.name)) {
    users.push({ name: user.name, state: "online", lang: session.user!.lang });
  }
  for (const u of users) if (u.name === user.name) u.state = "online";
  await deliverPending(router, session, (pending) => ({
    type: "welcome",
    user: user.name,
    lang: session.user!.lang,
    created,
    users,
    pending,
    cid: cmd.cid,
  }));
}

/** {"type":"lang","lang":"es"} — changes the preferred language of every session of the user. */
export async function handleLang(
  router: Router,
  session: Session,
  cmd: Extract<Command, { type: "lang" }>,
): Promise<void> {
  const lang = normalizeLang(cmd.lang);
  const user = session.user!;
  await router.store.setLang(user.key, lang);
  for (const s of router.sessionsOf(user.key)) {
    s.user!.lang = lang;
    s.emit({ type: "lang", lang, cid: s === session ? cmd.cid : undefined });
  }
}
