import type { ChatConnection } from "./chat_connection.ts";
import { LANGUAGES } from "./languages.ts";

/** Changes the user's preferred language, on every device; messages arrive translated into it. */
export function LanguagePicker({ chat }: { chat: ChatConnection }) {
  const lang = chat.state.lang.value;
  const known = LANGUAGES.some(([code]) => code === lang);
  return (
    <label class="lang-picker">
      <span class="sr-only">Your language</span>
      <select
        value={lang}
        onChange={(e) => void chat.setLang(e.currentTarget.value)}
        title="Your language: messages are translated into it"
      >
        {!known && <option value={lang}>{lang}</option>}
        {LANGUAGES.map(([code, name]) => <option key={code} value={code}>{name}</option>)}
      </select>
    </label>
  );
}
