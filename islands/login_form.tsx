import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import type { JSX } from "preact";
import { LANGUAGES } from "./languages.ts";

/** The signed-in account, as the login API answers. */
export interface SignedIn {
  user: string;
  lang: string;
}

interface Props {
  onSignedIn: (who: SignedIn) => void;
  /** Shown above the form, e.g. after the session ended elsewhere. */
  notice?: string;
}

/**
 * Sign in or register: name, password, preferred language. Errors from the server are shown
 * as they come (wrong password, name taken, throttled with the time to wait).
 */
export function LoginForm({ onSignedIn, notice }: Props) {
  const name = useSignal("");
  const password = useSignal("");
  const lang = useSignal("en");
  const error = useSignal("");
  const busy = useSignal(false);
  // After hydration, so the server's markup and the first render agree.
  useEffect(() => void (lang.value = guessLang()), []);

  async function submit(register: boolean) {
    if (busy.value) return;
    error.value = "";
    busy.value = true;
    try {
      const res = await fetch("/api/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          name: name.value.trim(),
          password: password.value,
          lang: lang.value,
          register,
        }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        error.value = describeError(body.error, register);
        return;
      }
      password.value = "";
      onSignedIn({ user: body.user, lang: body.lang });
    } catch {
      error.value = "Cannot reach the server. Check your connection and try again.";
    } finally {
      busy.value = false;
    }
  }

  const onSubmit = (e: JSX.TargetedSubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    const register = (e.submitter as HTMLButtonElement | null)?.value === "register";
    void submit(register);
  };

  return (
    <main class="login">
      <form class="login-card" onSubmit={onSubmit} aria-describedby="login-error">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true">P</span>
          <h1>Parley</h1>
        </div>
        <p class="login-intro">Chat with everyone on this server, in your own language.</p>
        {notice && <p class="login-notice" role="status">{notice}</p>}
        <label for="login-name">Name</label>
        <input
          id="login-name"
          name="name"
          autocomplete="username"
          autocapitalize="off"
          spellcheck={false}
          required
          maxLength={32}
          value={name.value}
          onInput={(e) => name.value = e.currentTarget.value}
        />
        <label for="login-password">Password</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password.value}
          onInput={(e) => password.value = e.currentTarget.value}
        />
        <label for="login-lang">Language</label>
        <select
          id="login-lang"
          name="lang"
          value={lang.value}
          onChange={(e) => lang.value = e.currentTarget.value}
        >
          {LANGUAGES.map(([code, label]) => <option key={code} value={code}>{label}</option>)}
        </select>
        <p id="login-error" class="login-error" role="alert">{error.value}</p>
        <div class="login-actions">
          <button type="submit" class="primary" value="login" disabled={busy.value}>
            Sign in
          </button>
          <button type="submit" value="register" disabled={busy.value}>
            Create account
          </button>
        </div>
        <p class="login-hint">
          New here? Pick a name and a password of at least 8 characters, then “Create account”.
        </p>
      </form>
    </main>
  );
}

function describeError(
  error: { code?: string; message?: string; retryAfter?: number } | undefined,
  register: boolean,
): string {
  switch (error?.code) {
    case "bad_credentials":
      return "Wrong password.";
    case "no_such_user":
      return "No account has that name. Check it, or “Create account” to make one.";
    case "name_taken":
      return "That name is taken. Sign in instead, or pick another name.";
    case "throttled":
    case "rate_limited": {
      const s = Math.max(1, Math.ceil(error.retryAfter ?? 1));
      return `Too many attempts. Try again in ${s} second${s === 1 ? "" : "s"}.`;
    }
    default:
      return error?.message ??
        (register ? "Could not create the account." : "Could not sign in.");
  }
}

function guessLang(): string {
  const primary = navigator.language?.split("-")[0]?.toLowerCase();
  return LANGUAGES.some(([code]) => code === primary) ? primary : "en";
}
