/**
 * Keeps what must not be translated out of the provider's hands: `code` spans, URLs, e-mail
 * addresses, `@mentions` and `#rooms` become numbered placeholders (`⟦0⟧`), which providers pass
 * through unchanged, and are put back afterwards.
 */

/** Code spans first (a URL inside backticks stays one span), then URLs, e-mails, mentions, rooms. */
const PROTECTED = new RegExp(
  [
    "```[\\s\\S]*?```",
    "`[^`\\n]+`",
    '\\b(?:https?|ftp)://[^\\s<>"]+',
    '\\bwww\\.[^\\s<>"]+',
    "[\\p{L}\\p{N}._%+-]+@[\\p{L}\\p{N}-]+(?:\\.[\\p{L}\\p{N}-]+)+",
    "(?<![\\p{L}\\p{N}_])@[\\p{L}\\p{N}_.-]*[\\p{L}\\p{N}_]",
    "(?<![\\p{L}\\p{N}_&])#[\\p{L}\\p{N}_-]*[\\p{L}\\p{N}_]",
  ].join("|"),
  "gu",
);

/** Punctuation that ends a sentence rather than a URL: `see https://x.org.` */
const URL_TRAILER = /[.,;:!?'")\]}]+$/u;

const PLACEHOLDER = /⟦\s*(\d+)\s*⟧/gu;

/** A text with its protected parts replaced by placeholders. */
export interface MaskedText {
  /** What the provider gets. */
  text: string;
  /** The protected parts, by placeholder number. */
  tokens: string[];
}

/** Replaces protected parts of `text` with `⟦n⟧` placeholders. */
export function maskText(text: string): MaskedText {
  const tokens: string[] = [];
  // A placeholder-looking run in the user's own text must survive too.
  const masked = text.replace(PLACEHOLDER, (m) => hold(tokens, m)).replace(PROTECTED, (match) => {
    if (match.startsWith("`") || match.includes("@") || match.startsWith("#")) {
      if (!/^(?:https?|ftp):|^www\./u.test(match)) return hold(tokens, match);
    }
    const trailer = match.match(URL_TRAILER)?.[0] ?? "";
    const url = match.slice(0, match.length - trailer.length);
    return url ? hold(tokens, url) + trailer : match;
  });
  return { text: masked, tokens };
}

/**
 * Puts the protected parts back into a provider's translation of a masked text. Returns
 * undefined when a placeholder went missing or came back twice: the translation would lose or
 * repeat a name, link or code span, and the original is the safer thing to show.
 */
export function unmaskText(translated: string, tokens: readonly string[]): string | undefined {
  const seen = new Array<boolean>(tokens.length).fill(false);
  let broken = false;
  const restored = translated.replace(PLACEHOLDER, (m, n: string) => {
    const i = Number(n);
    if (i >= tokens.length || seen[i]) {
      broken = true;
      return m;
    }
    seen[i] = true;
    return tokens[i];
  });
  if (broken || seen.some((s) => !s)) return undefined;
  return restored;
}

/** True when a masked text has nothing left to translate (only placeholders, digits, symbols). */
export function nothingToTranslate(masked: string): boolean {
  return !/\p{L}/u.test(masked.replace(PLACEHOLDER, ""));
}

function hold(tokens: string[], part: string): string {
  tokens.push(part);
  return `⟦${tokens.length - 1}⟧`;
}
