/**
 * Field checks of the call frames (docs/protocol.md, "Calls"): each returns the typed value or
 * throws `bad_argument` naming the field and what it must be. What a call frame carries is
 * relayed to another user's browser, so nothing passes unchecked: the sizes that fit in one
 * frame, the characters SDP and ICE are written in, the call ids the server gives.
 */
import { ParleyError } from "../errors.ts";
import type { RawCommand } from "../protocol/json.ts";
import type { CallMedia, IceCandidate } from "../protocol/types.ts";

/**
 * The longest session description taken, in characters (SDP is ASCII). A frame is at most
 * 8192 bytes; JSON writes each CRLF as four characters, and a browser's offer for voice and
 * video, without candidates (they trickle), is 3-6 KB.
 */
export const MAX_SDP = 7000;
/** The longest ICE candidate line (a few hundred characters in practice). */
export const MAX_CANDIDATE = 1024;
/** The longest media id (`a=mid`) of a candidate. */
export const MAX_SDP_MID = 64;

/** Call ids as the server makes them: `call-` and 26 letters and digits. */
const CALL_ID = /^call-[0-9a-z]{26}$/;

/** SDP: lines of printable ASCII, each ended by CRLF (RFC 8866), starting with `v=0`. */
const SDP = /^v=0\r\n(?:[\x20-\x7e]*\r\n)+$/;

/** A candidate attribute: printable ASCII on one line, `candidate:` first (or "", the end). */
const CANDIDATE = /^(?:candidate:[\x20-\x7e]+)?$/;

/** The call id of a frame, as the server gave it in the `call` event. */
export function requireCallId(raw: RawCommand): string {
  const value = raw.call;
  if (typeof value !== "string" || !CALL_ID.test(value)) {
    throw new ParleyError(
      "bad_argument",
      `'${raw.type}' needs "call" as the id of a call (from its "call" event).`,
    );
  }
  return value;
}

/** `audio` or `video`. */
export function requireMedia(raw: RawCommand): CallMedia {
  const value = raw.media ?? "video";
  if (value !== "audio" && value !== "video") {
    throw new ParleyError("bad_argument", `"media" of '${raw.type}' must be "audio" or "video".`);
  }
  return value;
}

/** A session description: SDP text within {@linkcode MAX_SDP}. */
export function requireSdp(raw: RawCommand): string {
  const value = raw.sdp;
  if (typeof value !== "string" || value.length === 0) {
    throw new ParleyError("bad_argument", `'${raw.type}' needs "sdp" as a session description.`);
  }
  if (value.length > MAX_SDP) {
    throw new ParleyError(
      "too_large",
      `The session description is ${value.length} characters; the limit is ${MAX_SDP}.`,
    );
  }
  if (!SDP.test(value)) {
    throw new ParleyError(
      "bad_argument",
      `"sdp" of '${raw.type}' is not a session description (lines of ASCII ended by CRLF, from v=0).`,
    );
  }
  return value;
}

/** An ICE candidate as `RTCIceCandidate.toJSON()` writes it; nothing else is relayed. */
export function requireCandidate(raw: RawCommand): IceCandidate {
  const c = raw.candidate;
  const bad = (what: string) =>
    new ParleyError("bad_argument", `"candidate" of '${raw.type}' ${what}.`);
  if (typeof c !== "object" || c === null || Array.isArray(c)) {
    throw bad("must be an object {candidate, sdpMid, sdpMLineIndex}");
  }
  const o = c as Record<string, unknown>;
  if (typeof o.candidate !== "string" || !CANDIDATE.test(o.candidate)) {
    throw bad(`needs "candidate" as one line starting "candidate:" (or "" for the end)`);
  }
  if (o.candidate.length > MAX_CANDIDATE) {
    throw bad(`is longer than ${MAX_CANDIDATE} characters`);
  }
  const mid = o.sdpMid ?? null;
  if (
    mid !== null &&
    (typeof mid !== "string" || mid.length > MAX_SDP_MID || !/^[\x21-\x7e]*$/.test(mid))
  ) {
    throw bad(`needs "sdpMid" as a media id of up to ${MAX_SDP_MID} characters, or null`);
  }
  const index = o.sdpMLineIndex ?? null;
  if (
    index !== null &&
    (!Number.isSafeInteger(index) || (index as number) < 0 || (index as number) > 255)
  ) {
    throw bad(`needs "sdpMLineIndex" as a whole number from 0 to 255, or null`);
  }
  if (mid === null && index === null && o.candidate !== "") {
    throw bad(`needs "sdpMid" or "sdpMLineIndex"`);
  }
  const candidate: IceCandidate = {
    candidate: o.candidate,
    sdpMid: mid as string | null,
    sdpMLineIndex: index as number | null,
  };
  const ufrag = o.usernameFragment;
  if (ufrag !== undefined && ufrag !== null) {
    if (typeof ufrag !== "string" || !/^[\x21-\x7e]{1,256}$/.test(ufrag)) {
      throw bad(`has a "usernameFragment" that is not 1-256 printable characters`);
    }
    candidate.usernameFragment = ufrag;
  }
  return candidate;
}
