/**
 * A whole-number flag of a stand-alone bench scenario: `min` or more, or a RangeError that names
 * the flag and what it was given.
 */
export function wholeFlag(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`--${name} must be a whole number ≥ ${min}; it is '${text}'.`);
  }
  return n;
}
