/**
 * Time-ordered message ids: 10 characters of milliseconds and 6 of a per-millisecond counter
 * with a random start, in Crockford base32, so ids sort as strings in the order they were made,
 * within a process and across restarts while the clock moves forward.
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

let lastMs = 0;
let counter = 0;

/** Returns a new id, greater than every id this process made before. */
export function newMessageId(now: number = Date.now()): string {
  if (now <= lastMs) {
    counter++;
    if (counter >= 32 ** 6) {
      lastMs++;
      counter = 0;
    }
  } else {
    lastMs = now;
    counter = Math.floor(Math.random() * 32 ** 5);
  }
  return encode(lastMs, 10) + encode(counter, 6);
}

function encode(value: number, width: number): string {
  let out = "";
  for (let i = 0; i < width; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

/** When the message with this id was accepted (ms since the epoch), read from its first 10 characters. */
export function idTime(id: string): number {
  let ms = 0;
  for (const c of id.slice(0, 10)) ms = ms * 32 + Math.max(0, ALPHABET.indexOf(c));
  return ms;
}
