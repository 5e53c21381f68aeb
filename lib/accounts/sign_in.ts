import { ParleyError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Store, UserRecord } from "../store/store.ts";
import { acceptLanguage, NAME_PATTERN, nameKey, validateName } from "./names.ts";
import { hashIterations, hashPassword, verifyPassword } from "./password.ts";
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

/**
 * Registers or verifies an account: the throttle check, the name and password rules, the slow
 * hash. Shared by the router (TCP and WebSocket sign-in frames) and the HTTP login API, so both
 * refuse and throttle alike. A login reserves its attempt in the throttle before the password is
 * checked, so parallel guesses get no more checks than the same guesses one after another. A
 * login to a name nobody has gets `no_such_user` (names are no secret: registration says whether
 * one is taken, and every signed-in user sees the list), and counts against the throttle like a
 * wrong password. A password hashed with fewer iterations than the server's setting is hashed
 * again at its next successful login.
 * @throws {ParleyError} `throttled` (with `retryAfter`), `name_taken`, `bad_name`, `bad_argument`,
 * `no_such_user` or `bad_credentials`.
 */
export async function signIn(deps: SignInDeps, req: SignInRequest): Promise<SignInResult> {
  const key = nameKey(req.name);
  const throttleKeys = [`name:${key}`, `addr:${req.remoteAddr}`];
  throwIfThrottled(deps.throttle.waitMs(throttleKeys));
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

  // Checked again, now counting the attempts whose passwords are being checked right now.
  throwIfThrottled(deps.throttle.reserve(throttleKeys));
  let ok = false;
  let checked = false;
  try {
    ok = user !== undefined && await verifyPassword(req.password, user.passwordHash);
    checked = true;
  } finally {
    // An error in the check (not a wrong password) counts as no failure.
    deps.throttle.release(throttleKeys, checked && !ok);
  }
  if (!user) {
    deps.logger.info("sign-in failed: no such user", { name: req.name, from: req.remoteAddr });
    // Only a name that could exist is echoed: anything else may hold control characters.
    const named = NAME_PATTERN.test(req.name) ? `named '${req.name}'` : "with that name";
    throw new ParleyError("no_such_user", `There is no account ${named}.`);
  }
  if (!ok) {
    deps.logger.info("sign-in failed", { name: req.name, from: req.remoteAddr });
    throw new ParleyError("bad_credentials", "Wrong password.");
  }
  deps.throttle.succeed(throttleKeys[0]);
  await rehashIfWeaker(deps, user, req.password);
  if (lang && lang !== user.lang) {
    await deps.store.setLang(key, lang);
    user.lang = lang;
  }
  return { user, created: false, lang };
}

/** Refuses with `throttled` (and `retryAfter`) while the throttle says wait. */
export function throwIfThrottled(waitMs: number): void {
  if (waitMs <= 0) return;
  throw new ParleyError("throttled", "Too many failed sign-ins; wait before trying again.", {
    retryAfter: waitMs / 1000,
  });
}

/**
 * Hashes the password again with the server's iteration count when the stored hash used fewer
 * (a lowered PARLEY_KDF_ITERATIONS that reached production heals at each user's next login).
 * A failure to save keeps the old hash and the sign-in.
 */
async function rehashIfWeaker(deps: SignInDeps, user: UserRecord, password: string) {
  const stored = hashIterations(user.passwordHash) ?? 0;
  if (stored >= deps.kdfIterations) return;
  try {
    const passwordHash = await hashPassword(password, deps.kdfIterations);
    await deps.store.setPasswordHash(user.key, passwordHash);
    user.passwordHash = passwordHash;
    deps.logger.info("password rehashed", {
      user: user.name,
      iterations: `${stored} -> ${deps.kdfIterations}`,
    });
  } catch (err) {
    deps.logger.warn("could not rehash a password; the old hash stays", {
      user: user.name,
      error: err,
    });
  }
}
