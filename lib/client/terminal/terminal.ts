/** Where the chat reads the user's lines and prints what happens. */
export interface Terminal {
  /** True when a person types at a terminal (passwords can be hidden, typos confirmed). */
  readonly interactive: boolean;
  /** True when keystrokes are seen as they happen and a prompt is drawn (the line editor). */
  readonly editing: boolean;
  /** Asks one question; resolves with the answer, or null when input ended. */
  ask(question: string, options?: { secret?: boolean }): Promise<string | null>;
  /** The next chat line; null when input ended (Ctrl-D, Ctrl-C, closed stdin). */
  readLine(): Promise<string | null>;
  /** Prints text (one or more lines) above whatever is being typed. */
  print(text: string): void;
  /** Sets the chat prompt (where replies go, who is typing). Line terminals show none. */
  setPrompt(prompt: string): void;
  /** Called with the line being typed after each edit, where keystrokes can be seen. */
  onEdit: ((line: string) => void) | undefined;
  /** Gives the terminal back as it was (cooked mode). */
  close(): void;
}

const utf8 = new TextEncoder();

/**
 * Writes all of `text` to stdout, synchronously, so output keeps its order. When stdout is gone
 * (the reader of a pipe quit), there is nobody left to tell: the text is dropped.
 */
export function writeOut(text: string): void {
  writeAll(Deno.stdout, text);
}

/** Like {@link writeOut}, to stderr: prompts when stdout goes to a file or pipe. */
export function writeErr(text: string): void {
  writeAll(Deno.stderr, text);
}

function writeAll(to: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = utf8.encode(text);
  let off = 0;
  try {
    while (off < bytes.length) off += to.writeSync(bytes.subarray(off));
  } catch (err) {
    if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
  }
}

/** Reads stdin in chunks; one reader for the whole program, so no byte is lost between users. */
export class StdinBytes {
  #buf = new Uint8Array(16 * 1024);
  #ended = false;

  get ended(): boolean {
    return this.#ended;
  }

  /** The next chunk, or null at end of input. */
  async read(): Promise<Uint8Array | null> {
    if (this.#ended) return null;
    let n: number | null;
    try {
      n = await Deno.stdin.read(this.#buf);
    } catch {
      n = null;
    }
    if (n === null) {
      this.#ended = true;
      return null;
    }
    return this.#buf.slice(0, n);
  }
}
