import { ParleyError } from "../errors.ts";
import type { ServerEvent } from "./types.ts";

/** A client frame before the command table checks its fields. */
export type RawCommand = { type: string; [field: string]: unknown };

/**
 * Decodes one JSON frame. Only the envelope is checked here (an object with a string `type`);
 * the router's command table checks the fields.
 * @throws {ParleyError} `bad_frame` with a hint.
 */
export function decodeJsonFrame(line: string): RawCommand {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ParleyError(
      "bad_frame",
      'Invalid JSON. Send one JSON object per line, like {"type":"who"}.',
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ParleyError("bad_frame", 'A frame must be a JSON object, like {"type":"who"}.');
  }
  const type = (value as Record<string, unknown>).type;
  if (typeof type !== "string") {
    throw new ParleyError("bad_frame", 'A frame needs a string "type", like {"type":"who"}.');
  }
  return value as RawCommand;
}

/** Encodes an event as one JSON frame (no newline; the framing adds it). */
export function encodeJsonEvent(event: ServerEvent): string {
  return JSON.stringify(event);
}
