import { validateName } from "../accounts/names.ts";
import { ParleyError } from "../errors.ts";
import type { RawCommand } from "../protocol/json.ts";

/**
 * Field checks for the command table: each returns the typed value or throws `bad_argument`
 * naming the field and what it must be.
 */

export function requireString(raw: RawCommand, field: string, maxLength = 1024): string {
  const value = raw[field];
  if (typeof value !== "string" || value.length === 0) {
    throw new ParleyError("bad_argument", `'${raw.type}' needs "${field}" as a non-empty string.`);
  }
  if (value.length > maxLength) {
    throw new ParleyError(
      "bad_argument",
      `"${field}" of '${raw.type}' is longer than ${maxLength} characters.`,
    );
  }
  return value;
}

export function optionalString(
  raw: RawCommand,
  field: string,
  maxLength = 1024,
): string | undefined {
  return raw[field] === undefined || raw[field] === null
    ? undefined
    : requireString(raw, field, maxLength);
}

/** An optional string that may be empty; "" when absent. */
export function optionalText(raw: RawCommand, field: string, maxLength: number): string {
  const value = raw[field] ?? "";
  if (typeof value !== "string") {
    throw new ParleyError("bad_argument", `"${field}" of '${raw.type}' must be a string.`);
  }
  if (value.length > maxLength) {
    throw new ParleyError(
      "bad_argument",
      `"${field}" of '${raw.type}' is longer than ${maxLength} characters.`,
    );
  }
  return value;
}

export function optionalBoolean(raw: RawCommand, field: string, fallback: boolean): boolean {
  const value = raw[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") {
    throw new ParleyError("bad_argument", `"${field}" of '${raw.type}' must be true or false.`);
  }
  return value;
}

export function requireStringList(raw: RawCommand, field: string, maxItems: number): string[] {
  const value = raw[field];
  if (
    !Array.isArray(value) || value.length > maxItems ||
    !value.every((v) => typeof v === "string" && v.length > 0 && v.length <= 64)
  ) {
    throw new ParleyError(
      "bad_argument",
      `'${raw.type}' needs "${field}" as a list of at most ${maxItems} ids.`,
    );
  }
  return value;
}

export function requireCount(raw: RawCommand, field: string): number {
  const value = raw[field];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new ParleyError(
      "bad_argument",
      `'${raw.type}' needs "${field}" as a whole number, 0 or more.`,
    );
  }
  return value;
}

/** An optional whole number from `min` to `max`, `fallback` when absent. */
export function optionalCount(
  raw: RawCommand,
  field: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = raw[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ParleyError(
      "bad_argument",
      `"${field}" of '${raw.type}' must be a whole number from ${min} to ${max}.`,
    );
  }
  return value;
}

/** The optional client reference every command may carry. */
export function clientId(raw: RawCommand): string | undefined {
  return optionalString(raw, "cid", 64);
}

/**
 * A room's name from `field`, its `#` optional, checked against the name rules (`bad_name`).
 * Returns the name without `#`.
 */
export function requireRoomName(raw: RawCommand, field = "room"): string {
  const name = requireString(raw, field, 33);
  return validateName(name.startsWith("#") ? name.slice(1) : name, "Room names");
}

/** A user's name from `field`, its `@` optional (looked up later: `no_such_user`). */
export function requireUserName(raw: RawCommand, field = "user"): string {
  const name = requireString(raw, field, 33);
  const bare = name.startsWith("@") ? name.slice(1) : name;
  if (!bare) {
    throw new ParleyError("bad_argument", `'${raw.type}' needs "${field}" as a user's name.`);
  }
  return bare;
}

/** One of `choices` from `field`, `fallback` when absent. */
export function optionalChoice<T extends string>(
  raw: RawCommand,
  field: string,
  choices: readonly T[],
  fallback: T,
): T {
  const value = raw[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "string" || !(choices as readonly string[]).includes(value)) {
    throw new ParleyError(
      "bad_argument",
      `"${field}" of '${raw.type}' must be one of ${choices.map((c) => `"${c}"`).join(", ")}.`,
    );
  }
  return value as T;
}

/** What a device id may be: 1-64 printable ASCII characters without spaces (a UUID does). */
export const DEVICE_ID = /^[\x21-\x7e]{1,64}$/;

/** A device id, when given (see {@linkcode DEVICE_ID}). */
export function optionalDevice(raw: RawCommand): string | undefined {
  const value = raw.device;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || !DEVICE_ID.test(value)) {
    throw new ParleyError(
      "bad_argument",
      `"device" must be 1-64 printable ASCII characters without spaces (a UUID does).`,
    );
  }
  return value;
}

/** A required `device` id, as {@linkcode optionalDevice} checks it. */
export function requireDevice(raw: RawCommand): string {
  const device = optionalDevice(raw);
  if (device === undefined) throw new ParleyError("bad_argument", `"device" is required.`);
  return device;
}

/** An optional `seq` (a whole number, 0 or more), undefined when absent. */
export function optionalSeq(raw: RawCommand, field: string): number | undefined {
  const value = raw[field];
  if (value === undefined || value === null) return undefined;
  return requireCount(raw, field);
}
