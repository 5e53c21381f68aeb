/** The browser island's state and draft parsing, without a browser. */
import assert from "node:assert/strict";
import { welcomeEvent } from "./fixtures.ts";
import { h } from "preact";
import { renderToString } from "preact-render-to-string";
import { ChatConnection, parseDraft } from "../islands/chat_connection.ts";
import { ChatWindow } from "../islands/chat_window.tsx";
import { MessageList } from "../islands/message_list.tsx";
import { ChatState, EVERYONE } from "../islands/chat_state.ts";
import { byteBudget, utf8Length } from "../islands/byte_budget.ts";
import {
  languageName,
  TRANSLATION_OFF_NOTICE,
  translationLabel,
  translationNotice,
} from "../islands/translation.ts";

function signedIn(translation = "google"): ChatState {
  const s = new ChatState();
  s.apply(welcomeEvent({
    translation,
    users: [
      { name: "alice", state: "online", lang: "en" },
      { name: "Bob", state: "online", lang: "es" },
      { name: "carol", state: "offline", lang: "fr" },
    ],
  }));
  return s;
}

Deno.test("parseDraft() reads @name and @all, else the open conversation", () => {
  assert.deepEqual(parseDraft("@bob hi there", EVERYONE), { to: "bob", text: "hi there" });
  assert.deepEqual(parseDraft("@all hello\nworld", "bob"), { to: "all", text: "hello\nworld" });
  assert.deepEqual(parseDraft("  plain words ", EVERYONE), { to: "all", text: "plain words" });
  assert.deepEqual(parseDraft("to bob", "bob"), { to: "bob", text: "to bob" });
  assert.deepEqual(parseDraft("@bob", EVERYONE), { to: "all", text: "@bob" });
  // In a room, @name mentions: the message stays in the room.
  assert.deepEqual(parseDraft("@bob can you look?", "#dev"), {
    to: "#dev",
    text: "@bob can you look?",
  });
});

Deno.test("ChatState files messages by conversation and counts unread ones", () => {
  const s = signedIn();
  s.apply({ type: "message", id: "1", from: "Bob", to: "alice", text: "psst", ts: 1 });
  s.apply({ type: "message", id: "2", from: "carol", to: "all", text: "hi all", ts: 2 });
  s.apply({ type: "message", id: "2", from: "carol", to: "all", text: "hi all", ts: 2 });
  assert.deepEqual(s.visible.value.map((m) => m.text), ["hi all"]);
  assert.deepEqual(s.unread.value, { bob: 1 });
  assert.equal(s.totalUnread.value, 1);
  s.open("bob");
  assert.deepEqual(s.visible.value.map((m) => m.text), ["psst"]);
  assert.deepEqual(s.unread.value, {});
  assert.equal(s.titleOf("bob"), "Bob");
});

Deno.test("ChatState tracks own messages from sending to their outcome", () => {
  const s = signedIn();
  s.addOwn("carol", "later", "c1");
  s.addOwn("all", "anyone?", "c2");
  s.addOwn("nobody", "hello?", "c3");
  s.settleOwn("c1", { id: "m1", status: "stored", recipients: 0 });
  s.settleOwn("c2", { id: "m2", status: "delivered", recipients: 0 });
  s.failOwn("c3", "There is no user named 'nobody'.");
  const byCid = Object.fromEntries(s.messages.value.map((m) => [m.cid, m]));
  assert.equal(byCid.c1.status, "stored");
  assert.equal(byCid.c1.id, "m1");
  assert.equal(byCid.c1.conversation, "carol");
  assert.equal(byCid.c2.status, "sent", "a broadcast nobody received is only sent");
  assert.equal(byCid.c3.status, "failed");
});

Deno.test("ChatState keeps a message the server could not store, until a retry stores it", () => {
  const s = signedIn();
  s.open("carol");
  s.addOwn("carol", "later", "c1");
  const words = "Not stored: the server's disk is full; try again later.";
  s.apply({
    type: "retrying",
    cid: "c1",
    to: "carol",
    code: "storage_full",
    message: words,
    retryInMs: 2000,
    attempt: 1,
  });
  const held = s.messages.value.find((m) => m.cid === "c1")!;
  assert.equal(held.status, "retrying");
  assert.equal(held.error, words);
  assert.match(s.announcement.value, /disk is full.*kept and sent again/);
  const shown = renderToString(h(MessageList, { state: s }));
  assert.match(shown, /Kept, sending again: Not stored: the server's disk is full/);
  s.settleOwn("c1", { id: "m1", status: "stored", recipients: 0 });
  const stored = s.messages.value.find((m) => m.cid === "c1")!;
  assert.equal(stored.status, "stored");
  assert.equal(stored.error, undefined, "the refusal is not shown once it is stored");
});

Deno.test("ChatState shows presence and typing, and a message ends typing", () => {
  const s = signedIn();
  s.apply({ type: "presence", user: "carol", state: "online" });
  assert.equal(s.people.value.get("carol")!.state, "online");
  s.apply({ type: "presence", user: "Bob", state: "typing", to: "all" });
  assert.deepEqual(s.typingHere.value, ["Bob"]);
  s.apply({ type: "presence", user: "carol", state: "typing", to: "alice" });
  assert.deepEqual(s.typingHere.value, ["Bob"], "carol types privately, not here");
  s.open("carol");
  assert.deepEqual(s.typingHere.value, ["carol"]);
  s.apply({ type: "message", id: "9", from: "carol", to: "alice", text: "done", ts: 9 });
  assert.deepEqual(s.typingHere.value, []);
  s.apply({ type: "presence", user: "Bob", state: "online", to: "all" });
  assert.equal(s.people.value.get("bob")!.typingTo, undefined);
  assert.equal(s.people.value.get("bob")!.state, "online");
  s.apply({ type: "presence", user: "Bob", state: "offline" });
  assert.deepEqual(s.others.value.map((p) => `${p.name}:${p.state}`), [
    "carol:online",
    "Bob:offline",
  ]);
});

Deno.test("ChatState keeps the server's translation and each message's translation", () => {
  const s = signedIn();
  assert.equal(s.translation.value, "google");
  s.apply({
    type: "message",
    id: "1",
    from: "Bob",
    to: "all",
    text: "hello",
    ts: 1,
    lang: "en",
    original: { text: "hola", lang: "es", provider: "google" },
  });
  s.apply({
    type: "message",
    id: "2",
    from: "carol",
    to: "all",
    text: "bonjour",
    ts: 2,
    lang: "fr",
    untranslated: "timeout",
  });
  s.apply({ type: "message", id: "3", from: "Bob", to: "all", text: "plain", ts: 3 });
  const [translated, untranslated, plain] = s.visible.value;
  assert.deepEqual(translated.original, { text: "hola", lang: "es", provider: "google" });
  assert.equal(translated.lang, "en");
  assert.equal(untranslated.untranslated, "timeout");
  assert.equal(plain.original, undefined);
  assert.equal(plain.untranslated, undefined);

  assert.equal(signedIn("off").translation.value, "off");
  // A welcome from a server that predates translation says nothing about it.
  const old = new ChatState();
  const { translation: _, ...before } = welcomeEvent();
  old.apply(before as unknown as Parameters<ChatState["apply"]>[0]);
  assert.equal(old.translation.value, "");
});

Deno.test("translationLabel() marks translated and untranslated messages, in plain words", () => {
  const translated = translationLabel({
    lang: "en",
    original: { text: "hola", lang: "es", provider: "google" },
  });
  assert.deepEqual(translated, {
    kind: "translated",
    label: "Translated from Español",
    pair: "es → en",
    title: "Translated by google from Español (es) into English (en)",
    originalHeading: "Original (Español)",
  });
  assert.deepEqual(translationLabel({ lang: "fr", untranslated: "unsupported" }), {
    kind: "untranslated",
    label: "Not translated: this language pair cannot be translated",
  });
  assert.deepEqual(translationLabel({ untranslated: "protected" }), {
    kind: "untranslated",
    label: "Not translated: the translation lost a name, link or code",
  });
  assert.equal(translationLabel({ lang: "en" }), undefined);
  assert.equal(translationLabel({}), undefined);
  // An original without the delivered language still reads well.
  const noLang = translationLabel({ original: { text: "x", lang: "xx", provider: "" } });
  assert.equal(noLang?.kind === "translated" && noLang.title, "Translated from xx (xx)");
  assert.equal(noLang?.kind === "translated" && noLang.pair, "xx");
});

Deno.test("languageName() uses the pickers' table, then the base language, then the tag", () => {
  assert.equal(languageName("es"), "Español");
  assert.equal(languageName("EN"), "English");
  assert.equal(languageName("pt-BR"), "Português (BR)");
  assert.equal(languageName("tlh"), "tlh");
});

Deno.test("translationNotice() speaks only when the server has translation off", () => {
  assert.equal(translationNotice("off"), TRANSLATION_OFF_NOTICE);
  assert.match(
    TRANSLATION_OFF_NOTICE,
    /^Translation is off on this server; messages arrive as written/,
  );
  assert.equal(translationNotice("google"), "");
  assert.equal(translationNotice(""), "");
});

Deno.test("MessageList marks translated and untranslated messages, as text", () => {
  const s = signedIn();
  s.apply({
    type: "message",
    id: "t1",
    from: "Bob",
    to: "all",
    text: "<b>hello</b>",
    ts: 1,
    lang: "en",
    original: { text: "<b>hola</b>", lang: "es", provider: "google" },
  });
  s.apply({
    type: "message",
    id: "u1",
    from: "carol",
    to: "all",
    text: "bonjour",
    ts: 2,
    lang: "fr",
    untranslated: "paused",
  });
  s.apply({ type: "message", id: "p1", from: "Bob", to: "all", text: "same language", ts: 3 });
  const html = renderToString(h(MessageList, { state: s }));
  const item = (id: string) => html.match(new RegExp(`<li class="([^"]*)" data-id="${id}">`))?.[1];
  assert.equal(item("t1"), "message translated");
  assert.equal(item("u1"), "message untranslated");
  assert.equal(item("p1"), "message");
  assert.ok(html.includes('<p class="text" lang="en" dir="auto">&lt;b>hello&lt;/b></p>'), html);
  assert.match(
    html,
    /<span class="translation-label" title="[^"]+">Translated from Español<\/span>/,
  );
  assert.match(
    html,
    /<button type="button" class="show-original" aria-expanded="false">Show original<\/button>/,
  );
  // The original is revealed on demand only (the browser test clicks the button).
  assert.ok(!html.includes("hola"));
  assert.match(
    html,
    /class="translation untranslated-note">Not translated: the translator is paused/,
  );
  assert.equal(html.match(/class="translation[ "]/g)?.length, 2, "the plain message has no mark");
});

Deno.test("ChatWindow says once, in the header, that translation is off", () => {
  const render = (translation: string) => {
    const chat = new ChatConnection({ onSignedOut: () => {} });
    chat.state.apply(welcomeEvent({ translation }));
    for (const id of ["1", "2"]) {
      chat.state.apply({ type: "message", id, from: "bob", to: "all", text: "hi", ts: 1 });
    }
    return renderToString(h(ChatWindow, { chat, onLogout: () => {} }));
  };
  const off = render("off");
  assert.equal(off.match(/class="translation-off"/g)?.length, 1);
  assert.ok(off.includes(TRANSLATION_OFF_NOTICE));
  assert.ok(!render("apertium").includes("translation-off"));
});

Deno.test("ChatState: presence is unknown from a lost connection until the next welcome", () => {
  const fresh = new ChatState();
  assert.equal(fresh.presenceKnown.value, false);
  assert.equal(fresh.presenceUnknown.value, "connecting…");
  const s = signedIn();
  assert.equal(s.presenceKnown.value, true);
  s.apply({ type: "presence", user: "Bob", state: "typing", to: "all" });
  s.apply({ type: "status", state: "offline", reason: "gone", retryInMs: 500, attempt: 1 });
  assert.equal(s.presenceKnown.value, false);
  s.apply({ type: "status", state: "connecting", attempt: 1 });
  assert.equal(s.presenceKnown.value, false);
  assert.equal(s.presenceUnknown.value, "reconnecting…");
  // The new welcome refreshes everyone: Bob left meanwhile, and his typing is over.
  s.apply(welcomeEvent({ users: [{ name: "alice", state: "online", lang: "en" }] }));
  assert.equal(s.presenceKnown.value, true);
  const bob = s.people.value.get("bob");
  assert.equal(bob?.state, "offline");
  assert.equal(bob?.typingTo, undefined);
});

Deno.test("ChatState lists who is online and who the user talked to, not every account", () => {
  const s = signedIn();
  const listed = () => s.listed.value.map((p) => `${p.name}:${p.state}`);
  // carol is a registered account, offline, never talked to.
  assert.deepEqual(listed(), ["Bob:online"]);
  s.apply({ type: "message", id: "1", from: "carol", to: "alice", text: "hi", ts: 1 });
  // The latest conversation first (issue 15), then online before offline.
  assert.deepEqual(listed(), ["carol:offline", "Bob:online"]);
  assert.deepEqual(s.contacts.value, ["carol"]);
  // A name a search found, not in any list the server sent.
  s.openPerson({ name: "Zoe", state: "offline", lang: "de" });
  assert.equal(s.active.value, "zoe");
  assert.deepEqual(s.contacts.value, ["Zoe", "carol"]);
  assert.deepEqual(listed(), ["carol:offline", "Bob:online", "Zoe:offline"]);
  // Contacts saved on an earlier visit are listed, as offline until presence says otherwise.
  s.contacts.value = [...s.contacts.value, "dave"];
  assert.deepEqual(listed(), ["carol:offline", "Bob:online", "Zoe:offline", "dave:offline"]);
  // A send becomes a contact once the server accepted it (a refused name does not).
  s.addOwn("nobody", "hello?", "c1");
  s.failOwn("c1", "There is no user named 'nobody'.");
  assert.ok(!s.contacts.value.includes("nobody"));
  s.addOwn("Bob", "hi", "c2");
  s.settleOwn("c2", { id: "m2", status: "delivered", recipients: 1 });
  assert.equal(s.contacts.value[0], "Bob");
});

Deno.test("byteBudget() counts UTF-8 bytes and speaks only near the limit", () => {
  assert.equal(utf8Length("é".repeat(3000)), 6000);
  assert.equal(utf8Length("a😀"), 5);
  assert.deepEqual(byteBudget(100, 4096), { left: 3996, over: false, label: "" });
  assert.deepEqual(byteBudget(3700, 4096), { left: 396, over: false, label: "396 bytes left" });
  assert.deepEqual(byteBudget(4095, 4096), { left: 1, over: false, label: "1 byte left" });
  assert.deepEqual(byteBudget(6000, 4096), { left: -1904, over: true, label: "1904 bytes over" });
  // A small limit: the last 200 bytes are said.
  assert.equal(byteBudget(300, 1000).label, "");
  assert.equal(byteBudget(850, 1000).label, "150 bytes left");
});
