/** One key press as the line editor sees it. */
export type Key =
  | { kind: "char"; char: string }
  | { kind: "enter" }
  | { kind: "backspace" }
  | { kind: "interrupt" } // Ctrl-C
  | { kind: "eof" } // Ctrl-D
  | { kind: "kill-line" } // Ctrl-U
  | { kind: "kill-word" } // Ctrl-W
  | { kind: "redraw" } // Ctrl-L
  | { kind: "ignored" };

/**
 * Splits raw-mode input into keys. Escape sequences (arrows, function keys, pasted colour
 * codes) are swallowed whole, so none of them reaches the line or the screen.
 */
export function decodeKeys(text: string): Key[] {
  const keys: Key[] = [];
  const chars = [...text];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "\x1b") {
      const next = chars[i + 1];
      if (next === "[") {
        // CSI: parameters and intermediates, then one final byte in @..~.
        i += 2;
        while (i < chars.length && !(chars[i] >= "@" && chars[i] <= "~")) i++;
      } else if (next === "O" || next === "]") {
        i += 2; // SS3 (one more char), or OSC (up to BEL); good enough for keys.
        if (next === "]") { while (i < chars.length && chars[i] !== "\x07") i++; }
      } else if (next !== undefined) i++; // Alt+key
      keys.push({ kind: "ignored" });
      continue;
    }
    if (c === "\r") {
      if (chars[i + 1] === "\n") i++;
      keys.push({ kind: "enter" });
    } else if (c === "\n") keys.push({ kind: "enter" });
    else if (c === "\x7f" || c === "\b") keys.push({ kind: "backspace" });
    else if (c === "\x03") keys.push({ kind: "interrupt" });
    else if (c === "\x04") keys.push({ kind: "eof" });
    else if (c === "\x15") keys.push({ kind: "kill-line" });
    else if (c === "\x17") keys.push({ kind: "kill-word" });
    else if (c === "\x0c") keys.push({ kind: "redraw" });
    else if (c === "\t") keys.push({ kind: "char", char: " " });
    // deno-lint-ignore no-control-regex
    else if (/[\x00-\x1f\x80-\x9f]/.test(c)) keys.push({ kind: "ignored" });
    else keys.push({ kind: "char", char: c });
  }
  return keys;
}

const WIDE =
  /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u;
const ZERO = /[\u0300-\u036f\u200b-\u200f\ufe00-\ufe0f]/;

/** Columns a character takes on a terminal (approximately: wide East Asian and emoji are 2). */
export function charWidth(c: string): number {
  return ZERO.test(c) ? 0 : WIDE.test(c) ? 2 : 1;
}

/** Columns a string takes once its ANSI colour codes are left out. */
export function displayWidth(s: string): number {
  let w = 0;
  // deno-lint-ignore no-control-regex
  for (const c of s.replace(/\x1b\[[0-9;]*m/g, "")) w += charWidth(c);
  return w;
}
