import type { MessageEvent } from "../protocol/types.ts";
import type { TrackedMessage } from "./reader_watch.ts";
import type { TranslationOutcome } from "../translate/service.ts";
import { sameLanguage } from "../translate/languages.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";

/**
 * The message as one reader gets it: translated, with the original and its language; or the
 * original, marked untranslated with the reason; or the original as it is.
 */
export function messageFor(
  message: MessageEvent,
  outcome: TranslationOutcome,
  source: string | undefined,
): MessageEvent {
  const lang = source === undefined ? {} : { lang: source };
  switch (outcome.kind) {
    case "same":
      return { ...message, ...lang };
    case "untranslated":
      return { ...message, ...lang, untranslated: outcome.reason };
    case "translated":
      return {
        ...message,
        text: outcome.text,
        // The caller files the outcome under the reader's language.
        lang: outcome.target,
        original: { text: message.text, lang: outcome.source, provider: outcome.provider },
      };
  }
}

/** How a delivery shares its translations with the other nodes (see lib/router/cluster.ts). */
export interface AcrossNodes {
  /** Languages of readers on other nodes: translated here too, for the shared cache. */
  alsoLangs?: Iterable<string>;
  /** Another node is translating: ask the cache only after this settles. */
  gate?: Promise<unknown>;
}

/**
 * Delivers a live message to `targets`, each in its reader's language. Readers of the source
 * language get it now; the others get it once it is translated into their language (one provider
 * call per language, never per reader), or untranslated when the timeout passes. Translated
 * deliveries of one sender keep their order: each waits for the sender's previous one.
 *
 * Returns how many sessions it goes to, the languages it translates into, and (when it
 * translates) a promise settled once those translations are in hand. `track` marks a stored
 * message, kept by its readers' sessions until they have surely read it (see `Router.fanout`).
 */
export function deliverMessage(
  router: Router,
  message: MessageEvent,
  targets: Iterable<ClientSession>,
  sender: { key: string; lang: string },
  track?: TrackedMessage,
  across: AcrossNodes = {},
): { reached: number; langs: string[]; translated?: Promise<unknown> } {
  const off = router.translation.provider === "off";
  const byLang = new Map<string, ClientSession[]>();
  const now: ClientSession[] = [];
  for (const s of targets) {
    const lang = s.user!.lang;
    if (off || sameLanguage(lang, sender.lang)) {
      now.push(s);
      continue;
    }
    let group = byLang.get(lang);
    if (!group) byLang.set(lang, group = []);
    group.push(s);
  }
  const reached = now.length + [...byLang.values()].reduce((n, g) => n + g.length, 0);
  const langs = new Set(byLang.keys());
  if (!off) {
    for (const lang of across.alsoLangs ?? []) {
      if (!sameLanguage(lang, sender.lang)) langs.add(lang);
    }
  }
  const original = { ...message, lang: sender.lang };
  const translate = () => router.translation.translate(message.text, sender.lang, langs);
  if (byLang.size === 0 && !router.delivering(sender.key)) {
    router.fanout(original, now, sender.key, track);
    // Translations only other nodes' readers need: this node's next message does not wait.
    return langs.size
      ? { reached, langs: [...langs], translated: translate() }
      : { reached, langs: [] };
  }
  const translated = langs.size
    ? (across.gate ? across.gate.then(translate, translate) : translate())
    : Promise.resolve(new Map());
  if (!router.delivering(sender.key)) {
    // Nothing of this sender's is still being translated: its own language goes out now.
    router.fanout(original, now, sender.key, track);
    now.length = 0;
  }
  void router.afterPrevious(sender.key, async () => {
    const outcomes = await translated;
    // Behind an earlier message still being translated: in order, after it.
    if (now.length) router.fanout(original, live(now), sender.key, track);
    for (const [lang, sessions] of byLang) {
      const event = messageFor(message, outcomes.get(lang)!, sender.lang);
      router.fanout(event, live(sessions), sender.key, track);
    }
  });
  return { reached, langs: [...langs], translated: langs.size ? translated : undefined };
}

/**
 * The sessions still open. A reader gone meanwhile was never written the message: it stays in the
 * log past their delivered point, for their next sign-in.
 */
function live(sessions: ClientSession[]): ClientSession[] {
  return sessions.filter((s) => !s.closed);
}
