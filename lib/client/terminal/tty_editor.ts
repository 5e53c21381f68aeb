import { charWidth, decodeKeys, displayWidth, type Key } from "./keys.ts";
import { StdinBytes, type Terminal, writeOut } from "./terminal.ts";

interface Edit {
  prompt: string;
  chars: string[];
  secret: boolean;
  chat: boolean;
  resolve: (line: string | null) => void;
}

/**
 * A small line editor for a person at a terminal (stdin and stdout both terminals): raw mode, so
 * incoming messages print above the line being typed without breaking it, passwords are not
 * echoed, and each keystroke is seen (for typing indicators). Editing is at the end of the line:
 * Backspace, Ctrl-U (clear), Ctrl-W (word), Ctrl-L (redraw), Enter, Ctrl-D / Ctrl-C (leave).
 */
export class TtyEditor implements Terminal {
  readonly interactive = true;
  readonly editing = true;
  onEdit: ((line: string) => void) | undefined;
  #stdin = new StdinBytes();
  #decoder = new TextDecoder();
  #edit: Edit | undefined;
  #typeahead: Key[] = [];
  #ended = false;
  #prompt = "> ";
  #closed = false;
  #onResize = () => this.#render();

  constructor() {
    Deno.stdin.setRaw(true);
    try {
      Deno.addSignalListener("SIGWINCH", this.#onResize);
    } catch { /* not on this platform */ }
    this.#pump();
  }

  ask(question: string, options: { secret?: boolean } = {}): Promise<string | null> {
    return this.#start(question, options.secret ?? false, false);
  }

  readLine(): Promise<string | null> {
    return this.#start(this.#prompt, false, true);
  }

  print(text: string): void {
    if (this.#closed) return writeOut(`${text}\n`);
    writeOut(`\r\x1b[2K${text.replace(/\n/g, "\r\n")}\r\n`);
    this.#render();
  }

  setPrompt(prompt: string): void {
    this.#prompt = prompt;
    if (this.#edit?.chat) {
      this.#edit.prompt = prompt;
      this.#render();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      Deno.removeSignalListener("SIGWINCH", this.#onResize);
    } catch { /* never added */ }
    if (this.#edit) writeOut("\r\n");
    try {
      Deno.stdin.setRaw(false);
    } catch { /* stdin gone */ }
  }

  #start(prompt: string, secret: boolean, chat: boolean): Promise<string | null> {
    if (this.#edit) throw new Error("Cannot read two lines at once");
    if (this.#ended && !this.#typeahead.length) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#edit = { prompt, chars: [], secret, chat, resolve };
      this.#render();
      const keys = this.#typeahead;
      this.#typeahead = [];
      this.#keys(keys);
      if (this.#edit && this.#ended) this.#finish(null);
    });
  }

  async #pump(): Promise<void> {
    while (true) {
      const chunk = await this.#stdin.read();
      if (chunk === null) break;
      this.#keys(decodeKeys(this.#decoder.decode(chunk, { stream: true })));
    }
    this.#ended = true;
    if (this.#edit) this.#finish(null);
  }

  #keys(keys: Key[]): void {
    for (let i = 0; i < keys.length; i++) {
      if (!this.#edit) {
        this.#typeahead.push(...keys.slice(i));
        return;
      }
      this.#key(this.#edit, keys[i]);
    }
  }

  #key(edit: Edit, key: Key): void {
    const before = edit.chars.length;
    switch (key.kind) {
      case "char":
        edit.chars.push(key.char);
        break;
      case "backspace":
        edit.chars.pop();
        break;
      case "kill-line":
        edit.chars.length = 0;
        break;
      case "kill-word": {
        let end = edit.chars.length;
        while (end > 0 && edit.chars[end - 1] === " ") end--;
        while (end > 0 && edit.chars[end - 1] !== " ") end--;
        edit.chars.length = end;
        break;
      }
      case "redraw":
        writeOut("\x1b[2J\x1b[H");
        break;
      case "enter":
        return this.#finish(edit.chars.join(""));
      case "interrupt":
        return this.#finish(null);
      case "eof":
        if (!edit.chars.length) return this.#finish(null);
        return;
      case "ignored":
        return;
    }
    this.#render();
    if (edit.chat && (edit.chars.length || before)) this.onEdit?.(edit.chars.join(""));
  }

  #finish(line: string | null): void {
    const edit = this.#edit!;
    this.#edit = undefined;
    // What was typed stays on screen only for questions; chat lines come back as formatted echoes.
    if (edit.chat) writeOut("\r\x1b[2K");
    else writeOut("\r\n");
    edit.resolve(line);
  }

  #render(): void {
    const edit = this.#edit;
    if (!edit || this.#closed) return;
    const columns = terminalColumns();
    let visible = edit.secret ? [] : edit.chars;
    const room = Math.max(10, columns - displayWidth(edit.prompt) - 1);
    let width = 0;
    let from = visible.length;
    while (from > 0 && width + charWidth(visible[from - 1]) <= room) {
      width += charWidth(visible[--from]);
    }
    if (from > 0) visible = ["…", ...visible.slice(from + 1)];
    writeOut(`\r\x1b[2K${edit.prompt}${visible.join("")}`);
  }
}

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}
