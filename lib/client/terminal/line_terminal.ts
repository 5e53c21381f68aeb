import { LineSplitter } from "../../protocol/lines.ts";
import { StdinBytes, type Terminal, writeErr, writeOut } from "./terminal.ts";

const MAX_LINE_BYTES = 64 * 1024;

/**
 * A terminal that reads whole lines: from a pipe or file (scripts, tests), or from a terminal in
 * its normal line mode when stdout is not a terminal (prompts then go to stderr). Passwords typed
 * at a terminal are read in raw mode so they are not echoed.
 */
export class LineTerminal implements Terminal {
  readonly interactive: boolean;
  readonly editing = false;
  onEdit: ((line: string) => void) | undefined;
  #stdin = new StdinBytes();
  #splitter = new LineSplitter(MAX_LINE_BYTES);
  #lines: string[] = [];
  #decoder = new TextDecoder();

  #interrupted = Promise.withResolvers<null>();
  #onInterrupt = () => {
    // The first Ctrl-C leaves politely; a second one does not wait any more.
    if (this.#stopping) Deno.exit(130);
    this.#stopping = true;
    this.#interrupted.resolve(null);
  };
  #stopping = false;

  constructor(options: { interactive: boolean }) {
    this.interactive = options.interactive;
    if (this.interactive) Deno.addSignalListener("SIGINT", this.#onInterrupt);
  }

  async ask(question: string, options: { secret?: boolean } = {}): Promise<string | null> {
    // A person at a terminal whose output goes elsewhere sees the prompt on stderr, on the line
    // they type on; a script gets it as a line of its own, with the rest of the output.
    if (this.interactive) writeErr(question);
    else writeOut(`${question}\n`);
    if (options.secret && this.interactive && !this.#lines.length) return await this.#secret();
    return this.readLine();
  }

  async readLine(): Promise<string | null> {
    if (this.#stopping) return null;
    while (!this.#lines.length) {
      const chunk = await Promise.race([this.#stdin.read(), this.#interrupted.promise]);
      if (this.#stopping) return null;
      if (chunk === null) {
        // A last line without its newline still counts.
        const rest = this.#splitter.buffered ? this.#splitter.push(new Uint8Array([10])) : [];
        for (const item of rest) if (!item.overlong) this.#lines.push(this.#decode(item.line));
        return this.#lines.shift() ?? null;
      }
      for (const item of this.#splitter.push(chunk)) {
        if (!item.overlong) this.#lines.push(this.#decode(item.line));
      }
    }
    return this.#lines.shift()!;
  }

  print(text: string): void {
    writeOut(`${text}\n`);
  }

  setPrompt(_prompt: string): void {}

  close(): void {
    if (this.interactive) Deno.removeSignalListener("SIGINT", this.#onInterrupt);
  }

  #decode(line: Uint8Array): string {
    return this.#decoder.decode(line);
  }

  /** Reads a password without echo. */
  async #secret(): Promise<string | null> {
    Deno.stdin.setRaw(true);
    const chars: string[] = [];
    const decoder = new TextDecoder();
    try {
      while (true) {
        const chunk = await this.#stdin.read();
        if (chunk === null) return null;
        for (const ch of decoder.decode(chunk, { stream: true })) {
          if (ch === "\r" || ch === "\n") return chars.join("");
          if (ch === "\x03") return null; // Ctrl-C
          if (ch === "\x04" && !chars.length) return null; // Ctrl-D
          if (ch === "\x7f" || ch === "\b") chars.pop();
          else if (ch === "\x15") chars.length = 0; // Ctrl-U
          else if (ch >= " ") chars.push(ch);
        }
      }
    } finally {
      Deno.stdin.setRaw(false);
      writeErr("\n");
    }
  }
}
