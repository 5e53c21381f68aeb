import { DEFAULT_ITERATIONS } from "./password.ts";

/** The environment variable that sets the PBKDF2 iterations of new password hashes. */
export const KDF_ENV = "PARLEY_KDF_ITERATIONS";

/** The iteration count the server hashes with, and what to say about it at every start. */
export interface KdfSetting {
  iterations: number;
  /** Set when the count is below the default: weaker hashes, which the operator must hear of. */
  warning?: string;
}

/**
 * Reads `PARLEY_KDF_ITERATIONS`. Unset: the default. Below the default (tests and benchmarks
 * lower it to make sign-ins cheap) it is accepted with a warning, since every password hashed
 * meanwhile is weaker; such hashes are made again at their next sign-in once the count is back.
 * @throws {RangeError} when the value is not a whole number of at least 1.
 */
export function readKdfSetting(value: string | undefined): KdfSetting {
  if (value === undefined || value === "") return { iterations: DEFAULT_ITERATIONS };
  const iterations = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(
      `${KDF_ENV} must be a whole number of PBKDF2 iterations (default ${DEFAULT_ITERATIONS}): ` +
        `current value is '${value}'`,
    );
  }
  if (iterations >= DEFAULT_ITERATIONS) return { iterations };
  return {
    iterations,
    warning: `WARNING: ${KDF_ENV}=${iterations} is below the default ${DEFAULT_ITERATIONS}: ` +
      "passwords set or rehashed while it is in force are hashed with fewer iterations, so a " +
      "stolen database is that much cheaper to crack. This is for tests and benchmarks only: " +
      `unset ${KDF_ENV} in production (weaker hashes are made again at each user's next ` +
      "sign-in once the count is back up).",
  };
}
