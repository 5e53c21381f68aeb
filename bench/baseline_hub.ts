/**
 * The zero-feature broadcast at the heart of the baseline servers: every line any member sends
 * goes to every member, the sender included. TCP and WebSocket members may share one hub
 * (baseline_mixed.ts).
 */

export interface Member {
  /** `line` without newline; `bytes` is the same line with its newline, encoded once. */
  deliver(line: string, bytes: () => Uint8Array): void;
}

const utf8 = new TextEncoder();

export class Hub {
  readonly members = new Set<Member>();

  broadcast(line: string): void {
    let encoded: Uint8Array | undefined;
    const bytes = () => encoded ??= utf8.encode(line + "\n");
    for (const m of this.members) m.deliver(line, bytes);
  }
}

/** Prints the line the bench waits for, then stays up until killed. */
export function announce(kind: "tcp" | "ws", port: number): void {
  console.log(`baseline listening: ${kind} 127.0.0.1:${port}`);
}
