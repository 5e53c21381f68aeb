import { ParleyError } from "../errors.ts";
import { BROADCAST } from "../protocol/types.ts";
import { ISO_639_1, primaryLanguage } from "../translate/languages.ts";

/** What a name may consist of (the characters and length; `validateName` checks the rest). */
export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;

/**
 * Names that would read as commands or audiences. Compared without regard to case, like every
 * name.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  BROADCAST,
  "everyone",
  "here",
  "you",
  "me",
  "server",
  "parley",
  "system",
  "admin",
  "root",
  "register",
  "login",
  "who",
  "lang",
  "help",
  "quit",
  "ack",
  "typing",
  "send",
]);

/** The case-insensitive key a name is unique under. */
export function nameKey(name: string): string {
  return name.toLowerCase();
}

/**
 * Checks a name a user wants to register (or a room's name: the same rules) and returns it
 * unchanged. `what` is how the message calls such names.
 * @throws {ParleyError} `bad_name` with a message that says what is wrong.
 */
export function validateName(name: string, what = "Names"): string {
  if (!NAME_PATTERN.test(name)) {
    throw new ParleyError(
      "bad_name",
      `${what} are 1-32 characters of letters, digits, '_', '.' and '-'.`,
    );
  }
  if (/^[.-]/.test(name)) {
    throw new ParleyError("bad_name", `${what} cannot start with '.' or '-'.`);
  }
  if (RESERVED_NAMES.has(nameKey(name))) {
    throw new ParleyError("bad_name", `'${name}' is reserved; pick another name.`);
  }
  return name;
}

const LANG_PATTERN = /^[a-z]{2,3}(-[a-z0-9]{2,8})*$/i;

/**
 * Normalises a language tag (`en`, `pt-BR`, `zh-Hant`): primary subtag lower case.
 * @throws {ParleyError} `bad_argument` when it is not a language tag.
 */
export function normalizeLang(lang: string): string {
  const tag = lang.trim();
  if (!LANG_PATTERN.test(tag) || tag.length > 35) {
    throw new ParleyError(
      "bad_argument",
      `'${lang.slice(0, 40)}' is not a language code; use one like en, es, pt-BR.`,
    );
  }
  const [primary, ...rest] = tag.split("-");
  return [primary.toLowerCase(), ...rest.map((p) => p.length === 2 ? p.toUpperCase() : p)]
    .join("-");
}

/**
 * The one rule for a language a user chooses, at registration, sign-in and `/lang`, in every
 * transport: a well-formed tag (`normalizeLang`) whose language is one the translation provider
 * has (`supported`, primary subtags, when the provider can say), else one of ISO 639-1.
 * Returns the normalised tag.
 * @throws {ParleyError} `bad_argument` naming the code and what would be accepted.
 */
export function acceptLanguage(lang: string, supported?: ReadonlySet<string>): string {
  const tag = normalizeLang(lang);
  const primary = primaryLanguage(tag);
  if (supported !== undefined && supported.size > 0) {
    if (supported.has(primary)) return tag;
    const known = [...supported].sort();
    const list = known.length > 40 ? `${known.slice(0, 40).join(", ")}, …` : known.join(", ");
    throw new ParleyError(
      "bad_argument",
      `'${tag}' is not a language this server translates; choose one of ${list}.`,
    );
  }
  if (ISO_639_1.has(primary)) return tag;
  throw new ParleyError(
    "bad_argument",
    `'${tag}' is not a language code; use a two-letter ISO 639-1 code like en, es, fr (pt-BR ` +
      "for a region).",
  );
}
