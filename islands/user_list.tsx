import type { ChatState, Person } from "./chat_state.ts";
import { EVERYONE, keyOf } from "./chat_state.ts";
import { hue, initial } from "./format.ts";

interface Props {
  state: ChatState;
  /** Called after a conversation was picked (the phone layout closes the panel). */
  onPick: () => void;
}

/** Conversations: everyone, then each user with their live status and unread count. */
export function UserList({ state, onPick }: Props) {
  const active = state.active.value;
  const unread = state.unread.value;
  const pick = (key: string) => {
    state.open(key);
    onPick();
  };
  const others = state.others.value;
  const online = others.filter((p) => p.state !== "offline").length;
  return (
    <nav class="people" aria-label="Conversations">
      <ul class="conversations">
        <li>
          <ConversationButton
            label="Everyone"
            detail={`${online} other${online === 1 ? "" : "s"} online`}
            avatar="#"
            hueClass="hue-all"
            current={active === EVERYONE}
            unread={unread[EVERYONE] ?? 0}
            onClick={() => pick(EVERYONE)}
          />
        </li>
      </ul>
      <h2 class="people-heading">People</h2>
      {others.length === 0 && <p class="people-empty">Nobody else has joined yet.</p>}
      <ul class="conversations">
        {others.map((p) => (
          <li key={p.name}>
            <ConversationButton
              label={p.name}
              detail={statusText(p, state.me.value)}
              avatar={initial(p.name)}
              hueClass={`hue-${hue(p.name)}`}
              presence={p.typingTo !== undefined ? "typing" : p.state}
              current={active === keyOf(p.name)}
              unread={unread[keyOf(p.name)] ?? 0}
              onClick={() => pick(keyOf(p.name))}
            />
          </li>
        ))}
      </ul>
    </nav>
  );
}

function statusText(p: Person, me: string): string {
  if (p.typingTo !== undefined) {
    return keyOf(p.typingTo) === keyOf(me) ? "typing to you…" : "typing…";
  }
  return p.state === "offline" ? "offline" : "online";
}

interface ButtonProps {
  label: string;
  detail: string;
  avatar: string;
  hueClass: string;
  presence?: string;
  current: boolean;
  unread: number;
  onClick: () => void;
}

function ConversationButton(p: ButtonProps) {
  const unreadText = p.unread ? `, ${p.unread} unread` : "";
  return (
    <button
      type="button"
      class={`conversation${p.current ? " current" : ""}`}
      aria-current={p.current ? "true" : undefined}
      aria-label={`${p.label}, ${p.detail}${unreadText}`}
      data-conversation={p.label}
      onClick={p.onClick}
    >
      <span class={`avatar ${p.hueClass}`} aria-hidden="true">
        {p.avatar}
        {p.presence && <span class={`presence-dot ${p.presence}`} />}
      </span>
      <span class="conversation-text" aria-hidden="true">
        <span class="conversation-name">{p.label}</span>
        <span class={`conversation-detail ${p.presence ?? ""}`}>{p.detail}</span>
      </span>
      {p.unread > 0 && <span class="unread" aria-hidden="true">{p.unread}</span>}
    </button>
  );
}
