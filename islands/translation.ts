/**
 * How a message's translation is described to the reader: pure helpers, so the wording is
 * tested without a browser. Every label is plain text; the components render it as text.
 */
import {
  type OriginalText,
  UNTRANSLATED_REASONS,
  type UntranslatedReason,
} from "../lib/protocol/types.ts";
import { LANGUAGES } from "./languages.ts";

/** What a welcome's `translation` says when the server translates nothing. */
export const TRANSLATION_OFF = "off";

/** The notice shown once when the server has translation off. */
export const TRANSLATION_OFF_NOTICE =
  "Translation is off on this server; messages arrive as written.";

const NAMES = new Map(LANGUAGES.map(([code, name]) => [code.toLowerCase(), name]));

/**
 * A language's own name from the pickers' table (`es` → `Español`); a regional tag not in the
 * table uses its base language (`pt-BR` → `Português (BR)`); anything else is the tag itself.
 */
export function languageName(code: string): string {
  const tag = code.trim();
  const exact = NAMES.get(tag.toLowerCase());
  if (exact) return exact;
  const [base, ...rest] = tag.split(/[-_]/);
  const name = NAMES.get(base.toLowerCase());
  if (name && rest.length) return `${name} (${rest.join("-")})`;
  return tag || "an unknown language";
}

/** The parts of a message that say whether and how it was translated. */
export interface TranslationInfo {
  original?: OriginalText;
  untranslated?: UntranslatedReason;
  /** Language of the text as delivered. */
  lang?: string;
}

/** What the message shows about its translation: nothing, a translation, or why there is none. */
export type TranslationLabel =
  | {
    kind: "translated";
    /** `Translated from Español`. */
    label: string;
    /** `es → en`. */
    pair: string;
    /** `Translated by google from Español (es) into English (en)`, for the label's title. */
    title: string;
    /** `Original (Español)`, above the revealed original. */
    originalHeading: string;
  }
  | {
    kind: "untranslated";
    /** `Not translated: the translator failed`. */
    label: string;
  };

/** The label of a message, or undefined for a message that needs none (same language, own). */
export function translationLabel(m: TranslationInfo): TranslationLabel | undefined {
  if (m.original) {
    const from = m.original.lang;
    const name = languageName(from);
    const into = m.lang ? ` into ${languageName(m.lang)} (${m.lang})` : "";
    const by = m.original.provider ? ` by ${m.original.provider}` : "";
    return {
      kind: "translated",
      label: `Translated from ${name}`,
      pair: m.lang ? `${from} → ${m.lang}` : from,
      title: `Translated${by} from ${name} (${from})${into}`,
      originalHeading: `Original (${name})`,
    };
  }
  if (m.untranslated) {
    return { kind: "untranslated", label: `Not translated: ${untranslatedWords(m.untranslated)}` };
  }
  return undefined;
}

/** The human words for why a message was not translated; an unknown reason still reads well. */
export function untranslatedWords(reason: string): string {
  return (UNTRANSLATED_REASONS as Record<string, string>)[reason] ?? "the translator failed";
}

/** The notice to show for a welcome's `translation`, or "" when there is nothing to say. */
export function translationNotice(translation: string): string {
  return translation === TRANSLATION_OFF ? TRANSLATION_OFF_NOTICE : "";
}
