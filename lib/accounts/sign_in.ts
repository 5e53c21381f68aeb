import { ParleyError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Store, UserRecord } from "../store/store.ts";
import { acceptLanguage, nameKey, validateName } from "./names.ts";
import { hashPassword, verifyPassword } from "./password.ts";
import type { LoginThrottle } from "./throttle.ts";

/** Shortest password accepted at registration (NIST SP 800-63B's minimum). */
export const MIN_PASSWORD_LENGTH = 8;

/** Language of an account registered without one. */
export const DEFAULT_LANG = "en";

/** What a sign-in needs from the server, whatever the transport. */
export interface SignInDeps {
  store: Store;
  throttle: LoginThrottle;
  logger: Logger;
  /** PBKDF2 iterations for new password hashes. */
  kdfIterations: number;
  /** Which languages users may choose (`acceptLanguage`); ISO 639-1 without it. */
  translation?: { languages(): ReadonlySet<string> | undefined };
}

/** One sign-in attempt. */
export interface SignInRequest {
  /** `auth` logs in when the name exists and registers when it does not (text mode). */
  mode: "register" | "login" | "auth";
  name: string;
  password: string;
  /** A language tag to store as the preferred language; unchanged when absent. */
  lang?: string;
  /** The peer's address, throttled alongside the name. */
  remoteAddr: string;
}

/** A successful sign-in. */
export interface SignInResult {
  user: UserRecord;
  /** True when this sign-in created the account. */
  created: boolean;
  /** The language asked for in this sign-in, normalised; undefined when none was given. */
  lang: string | undefined;
}

// Verified against when the name is unknown, so a miss costs as long as a wrong password.
let decoyHash: Promise<string> | undefined;

/**
 * Registers or verifies an account: the throttle check, the name and password rules, the slow
 * hash. Shared by the router (TCP and WebSocket sign-in frames) and the HTTP login API, so both
 * refuse and throttle alike.
 * @throws {ParleyError} `throttled` (with `retryAfter`), `name_taken`, `bad_name`, `bad_argument`
 * or `bad_credentials`.
 */
export async function signIn(deps: SignInDeps, req: SignInRequest): Promise<SignInResult> {
  const key = nameKey(req.name);
  const throttleKeys = [`name:${key}`, `addr:${req.remoteAddr}`];
  const wait = deps.throttle.waitMs(throttleKeys);
  if (wait > 0) {
    throw new ParleyError("throttled", "Too many failed sign-ins; wait before trying again.", {
      retryAfter: wait / 1000,
    });
  }
  const lang = req.lang === undefined
    ? undefined
    : acceptLanguage(req.lang, deps.translation?.languages());
  let user = await deps.store.getUser(key);

  if (req.mode === "register" || (req.mode === "auth" && !user)) {
    if (user) throw new ParleyError("name_taken", `'${user.name}' is already registered.`);
    validateName(req.name);
    if ([...req.password].length < MIN_PASSWORD_LENGTH) {
      throw new ParleyError(
        "bad_argument",
        `Passwords need at least ${MIN_PASSWORD_LENGTH} characters.`,
      );
    }
    user = {
      name: req.name,
      key,
      passwordHash: await hashPassword(req.password, deps.kdfIterations),
      lang: lang ?? DEFAULT_LANG,
      createdAt: Date.now(),
    } satisfies UserRecord;
    await deps.store.createUser(user);
    deps.logger.info("registered", { user: user.name, from: req.remoteAddr });
    return { user, created: true, lang };
  }

  decoyHash ??= hashPassword(crypto.randomUUID(), deps.kdfIterations);
  const ok = await verifyPassword(req.password, user?.passwordHash ?? await decoyHash);
  if (!user || !ok) {
    deps.throttle.fail(throttleKeys);
    deps.logger.info("sign-in failed", { name: req.name, from: req.remoteAddr });
    throw new ParleyError("bad_credentials", "Wrong name or password.");
  }
  deps.throttle.succeed(throttleKeys[0]);
  if (lang && lang !== user.lang) {
    await deps.store.setLang(key, lang);
    user.lang = lang;
  }
  return { user, created: false, lang };
}
