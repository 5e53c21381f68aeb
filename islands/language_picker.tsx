import type { ChatSession } from "./chat_session.ts";
import { LANGUAGES } from "./languages.ts";

/** Changes the user's preferred language, on every device; messages arrive translated into it. */
export function LanguagePicker({ session }: { session: ChatSession }) {
  const lang = session.state.lang.value;
  const known = LANGUAGES.some(([code]) => code === lang);
  return (
    <label class="lang-picker">
      <span class="sr-only">Your language</span>
      <select
        value={lang}
        onChange={(e) => void session.setLang(e.currentTarget.value)}
        title="Your language: messages are translated into it"
      >
        {!known && <option value={lang}>{lang}</option>}
        {LANGUAGES.map(([code, name]) => <option key={code} value={code}>{name}</option>)}
      </select>
    </label>
  );
}
