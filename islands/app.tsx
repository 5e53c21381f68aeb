import { useSignal } from "@preact/signals";
import { useEffect, useMemo } from "preact/hooks";
import { ChatConnection } from "./chat_connection.ts";
import { ChatWindow } from "./chat_window.tsx";
import { LoginForm, type SignedIn } from "./login_form.tsx";

/** What the server tells the island at page load (the `data-state` of its root). */
export interface InitialState {
  /** Set when the session cookie signs somebody in. */
  signedIn?: SignedIn;
  /**
   * The server's identity fingerprint (`SHA256:…`), rendered with the page: the WebSocket's
   * encrypted session accepts only this identity, and the window shows it.
   */
  serverFingerprint?: string;
  /** The longest message text the server takes, in UTF-8 bytes (`--max-message-bytes`). */
  maxMessageBytes?: number;
}

/** The island: the login form, or the chat window of the signed-in user. */
export function App({ initial }: { initial: InitialState }) {
  const who = useSignal(initial.signedIn);
  const notice = useSignal("");
  const signedIn = who.value;
  if (!signedIn) {
    return (
      <LoginForm
        notice={notice.value}
        onSignedIn={(w) => {
          notice.value = "";
          who.value = w;
        }}
      />
    );
  }
  return (
    <Chat
      key={signedIn.user}
      who={signedIn}
      serverFingerprint={initial.serverFingerprint}
      maxMessageBytes={initial.maxMessageBytes}
      onSignedOut={(message) => {
        notice.value = message;
        who.value = undefined;
      }}
    />
  );
}

function Chat(
  { who, serverFingerprint, maxMessageBytes, onSignedOut }: {
    who: SignedIn;
    serverFingerprint: string | undefined;
    maxMessageBytes: number | undefined;
    onSignedOut: (notice: string) => void;
  },
) {
  const chat = useMemo(() => {
    const s = new ChatConnection({
      onSignedOut: () => onSignedOut("Your session has ended. Please sign in again."),
      serverFingerprint,
    });
    s.state.me.value = who.user;
    s.state.lang.value = who.lang;
    if (maxMessageBytes) s.state.maxMessageBytes.value = maxMessageBytes;
    return s;
  }, []);
  useEffect(() => {
    void chat.start();
    return () => chat.stop();
  }, []);
  return (
    <ChatWindow
      chat={chat}
      onLogout={() => {
        void chat.logout().then(() => onSignedOut("You have signed out."));
      }}
    />
  );
}
