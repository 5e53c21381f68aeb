/**
 * The terminal client as the tests drive it: `client.ts` as a child process fed lines on stdin,
 * and a terminal that records what the chat view prints.
 */
import type { Terminal } from "../lib/client/terminal/terminal.ts";

export const CLIENT = new URL("../client.ts", import.meta.url).pathname;
/** Pins go to a throwaway file, never to the user's ~/.config (PARLEY_KNOWN_SERVERS). */
export const KNOWN_DIR = await Deno.makeTempDir({ prefix: "parley-known-" });
export const KNOWN_SERVERS = `${KNOWN_DIR}/known_servers`;
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(KNOWN_DIR, { recursive: true });
  } catch { /* gone already */ }
});
const utf8 = new TextEncoder();
let devices = 0;
/** A device file no client has used yet: a new install. */
export const freshDeviceFile = () => `${KNOWN_DIR}/device-${++devices}`;

/** `client.ts` running as a child process, fed lines on stdin. */
export class ClientProcess {
  readonly child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #out = "";
  #wake: Array<() => void> = [];
  #pumps: Promise<unknown>;
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  /**
   * `deviceFile`: where the client keeps its device id; by default a new one per process (a new
   * install), never the user's ~/.config.
   */
  constructor(port: number, args: string[] = [], deviceFile = freshDeviceFile()) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLIENT, "--port", String(port), ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", PARLEY_KNOWN_SERVERS: KNOWN_SERVERS, PARLEY_DEVICE_FILE: deviceFile },
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
    this.#pumps = Promise.all([this.#pump(this.child.stdout), this.#pump(this.child.stderr)]);
    this.status = this.child.status.then((s) => {
      this.#exited = true;
      this.#notify();
      return s;
    });
  }

  /** Everything printed so far (stdout and stderr). */
  get output(): string {
    return this.#out;
  }

  /** Types lines, as if the user pressed Enter after each. */
  async type(...lines: string[]): Promise<void> {
    await this.#writer.write(utf8.encode(lines.map((l) => `${l}\n`).join("")));
  }

  /**
   * Waits until the output (from offset `from` on: an earlier `output.length`) matches
   * `pattern`; returns the matching line.
   */
  async waitFor(pattern: string | RegExp, timeoutMs = 10_000, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const line = this.#out.slice(from).split("\n").find((l) =>
        typeof pattern === "string" ? l.includes(pattern) : pattern.test(l)
      );
      if (line !== undefined) return line;
      const left = deadline - Date.now();
      if (this.#exited || left <= 0) {
        throw new Error(
          `${
            this.#exited ? "client exited" : "timed out"
          } waiting for ${pattern}; output:\n${this.#out}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** Ends stdin (like Ctrl-D) and waits for the client to leave. */
  async end(): Promise<Deno.CommandStatus> {
    await this.#writer.close().catch(() => {});
    const status = await this.status;
    await this.#pumps;
    return status;
  }

  /** Makes sure the process is gone and every stream closed, whatever happened. */
  async dispose(): Promise<void> {
    if (!this.#exited) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await this.#writer.close().catch(() => {});
    await this.status;
    await this.#pumps;
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.#out += decoder.decode(chunk, { stream: true });
      this.#notify();
    }
  }

  #notify() {
    const wake = this.#wake;
    this.#wake = [];
    for (const f of wake) f();
  }
}

/** A terminal that keeps what is printed, for the chat view's tests. */
export class RecordingTerminal implements Terminal {
  readonly interactive = false;
  readonly editing = false;
  onEdit: ((line: string) => void) | undefined;
  lines: string[] = [];
  ask(): Promise<string | null> {
    return Promise.resolve(null);
  }
  readLine(): Promise<string | null> {
    return Promise.resolve(null);
  }
  print(text: string): void {
    this.lines.push(...text.split("\n"));
  }
  /** The prompt last set. */
  prompt = "";
  setPrompt(prompt: string): void {
    this.prompt = prompt;
  }
  close(): void {}
  /** The lines printed since the last call. */
  take(): string[] {
    const lines = this.lines;
    this.lines = [];
    return lines;
  }
}
