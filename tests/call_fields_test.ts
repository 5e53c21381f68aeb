/**
 * Every call frame is checked before anything is relayed (lib/router/call_fields.ts), and
 * `--ice-servers` is parsed with errors that say what to fix (lib/ice_servers.ts).
 */
import assert from "node:assert/strict";
import { isParleyError } from "../lib/errors.ts";
import type { RawCommand } from "../lib/protocol/json.ts";
import {
  MAX_CANDIDATE,
  MAX_SDP,
  requireCallId,
  requireCandidate,
  requireMedia,
  requireSdp,
} from "../lib/router/call_fields.ts";
import { newCallId } from "../lib/router/call_book.ts";
import { IceServerError, parseIceServers } from "../lib/ice_servers.ts";
import { ConfigError, loadConfig } from "../lib/config.ts";
import { lookupCommand } from "../lib/router/commands.ts";

const frame = (fields: Record<string, unknown>): RawCommand =>
  ({ type: "call_offer", ...fields }) as RawCommand;

function refused(code: string, fn: () => unknown): string {
  let message = "";
  assert.throws(fn, (err) => {
    message = (err as Error).message;
    return isParleyError(err) && err.code === code;
  });
  return message;
}

const SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const CANDIDATE = {
  candidate: "candidate:842163049 1 udp 1677729535 192.0.2.1 3478 typ srflx",
  sdpMid: "0",
  sdpMLineIndex: 0,
};

Deno.test("call frames: call ids are the server's", () => {
  const id = newCallId();
  assert.equal(requireCallId(frame({ call: id })), id);
  for (const bad of [undefined, "", 42, "call-x", `${id}x`, id.toUpperCase(), "../etc"]) {
    refused("bad_argument", () => requireCallId(frame({ call: bad })));
  }
});

Deno.test("call frames: media is audio or video, video when absent", () => {
  assert.equal(requireMedia(frame({ media: "audio" })), "audio");
  assert.equal(requireMedia(frame({})), "video");
  refused("bad_argument", () => requireMedia(frame({ media: "screen" })));
});

Deno.test("call frames: session descriptions are SDP, within the size a frame holds", () => {
  assert.equal(requireSdp(frame({ sdp: SDP })), SDP);
  const long = SDP + `a=x:${"y".repeat(MAX_SDP)}\r\n`;
  assert.match(refused("too_large", () => requireSdp(frame({ sdp: long }))), /limit is 7000/);
  for (
    const bad of [
      undefined,
      "",
      { sdp: SDP },
      "hello",
      "v=0\nno-crlf\n",
      SDP + "a=\u0000\r\n",
      SDP + "a=é\r\n",
      SDP + "no final line break",
    ]
  ) {
    refused("bad_argument", () => requireSdp(frame({ sdp: bad })));
  }
});

Deno.test("call frames: ICE candidates are one line each, with their media line", () => {
  assert.deepEqual(requireCandidate(frame({ candidate: CANDIDATE })), CANDIDATE);
  // The end of candidates, and the optional username fragment.
  assert.deepEqual(
    requireCandidate(frame({ candidate: { candidate: "", sdpMid: "0", sdpMLineIndex: null } })),
    { candidate: "", sdpMid: "0", sdpMLineIndex: null },
  );
  assert.deepEqual(
    requireCandidate(frame({ candidate: { ...CANDIDATE, usernameFragment: "abcd" } })),
    { ...CANDIDATE, usernameFragment: "abcd" },
  );
  // Fields not in a candidate are not relayed.
  assert.deepEqual(
    requireCandidate(frame({ candidate: { ...CANDIDATE, extra: "<script>" } })),
    CANDIDATE,
  );
  const bad = [
    undefined,
    "candidate:1",
    [CANDIDATE],
    { ...CANDIDATE, candidate: "not a candidate" },
    { ...CANDIDATE, candidate: "candidate:1\r\na=inject" },
    { ...CANDIDATE, candidate: `candidate:${"1".repeat(MAX_CANDIDATE)}` },
    { ...CANDIDATE, sdpMid: 5 },
    { ...CANDIDATE, sdpMid: "x".repeat(65) },
    { ...CANDIDATE, sdpMLineIndex: -1 },
    { ...CANDIDATE, sdpMLineIndex: 1.5 },
    { ...CANDIDATE, sdpMLineIndex: 256 },
    { candidate: CANDIDATE.candidate, sdpMid: null, sdpMLineIndex: null },
    { ...CANDIDATE, usernameFragment: "" },
  ];
  for (const c of bad) refused("bad_argument", () => requireCandidate(frame({ candidate: c })));
});

Deno.test("call frames: the command table checks every call frame", () => {
  const id = newCallId();
  const parse = (raw: Record<string, unknown>) =>
    lookupCommand(raw.type as string)!.parse(raw as RawCommand);
  assert.deepEqual(parse({ type: "call_ring", to: "@bob", media: "audio" }), {
    type: "call_ring",
    to: "bob",
    media: "audio",
    cid: undefined,
  });
  assert.deepEqual(parse({ type: "call_hangup", call: id, cid: "x" }), {
    type: "call_hangup",
    call: id,
    cid: "x",
  });
  refused("bad_argument", () => parse({ type: "call_ring" }));
  refused("bad_argument", () => parse({ type: "call_accept", call: "nope" }));
  refused("bad_argument", () => parse({ type: "call_answer", call: id, sdp: "x" }));
  refused("bad_argument", () => parse({ type: "call_ice", call: id, candidate: {} }));
  refused("bad_argument", () => parse({ type: "calls", on: "yes" }));
});

Deno.test("ice servers: URL lists, credentials and JSON", () => {
  assert.deepEqual(parseIceServers(""), []);
  assert.deepEqual(
    parseIceServers(
      "stun:stun.example.org:3478, turn:alice:s%40cret@turn.example.org:3478?transport=udp,stuns:[2001:db8::1]:5349",
    ).slice(0, 2),
    [
      { urls: ["stun:stun.example.org:3478"] },
      {
        urls: ["turn:turn.example.org:3478?transport=udp"],
        username: "alice",
        credential: "s@cret",
      },
    ],
  );
  assert.deepEqual(
    parseIceServers('[{"urls":"turn:10.0.0.1","username":"u","credential":"c"}]'),
    [{ urls: ["turn:10.0.0.1"], username: "u", credential: "c" }],
  );
  const bad: [string, RegExp][] = [
    ["http://example.org", /not a STUN or TURN URL/],
    ["stun:", /not a STUN or TURN URL/],
    ["turn:turn.example.org", /TURN server needs a username and a credential/],
    ["stun:u:p@stun.example.org", /STUN server takes no username/],
    ["turn:onlyuser@turn.example.org", /turn:USER:CREDENTIAL@host/],
    ["stun:example.org:70000", /port 70000/],
    ["stun:example.org?transport=udp", /TURN URLs only/],
    ["[{", /not valid JSON/],
    ['{"urls":"stun:x"}', /not a STUN or TURN URL/],
    ['[{"urls":[]}]', /needs "urls"/],
    ['[{"urls":"stun:x","extra":1}]', /unknown field/],
    [Array(9).fill("stun:x.org").join(","), /at most 8/],
  ];
  for (const [value, message] of bad) {
    assert.throws(() => parseIceServers(value), (err) => {
      return err instanceof IceServerError && message.test(err.message);
    }, value);
  }
  // A credential never shows in the error.
  assert.throws(
    () => parseIceServers("turn:alice:hunter2@bad host"),
    (err) => err instanceof IceServerError && !err.message.includes("hunter2"),
  );
});

Deno.test("ice servers: --ice-servers and PARLEY_ICE_SERVERS", () => {
  const config = loadConfig(["--ice-servers", "stun:stun.example.org"], () => undefined);
  assert.ok(config !== "help");
  assert.deepEqual(config.iceServers, [{ urls: ["stun:stun.example.org"] }]);
  const fromEnv = loadConfig(
    [],
    (n) => n === "PARLEY_ICE_SERVERS" ? "turn:u:c@t.example" : undefined,
  );
  assert.ok(fromEnv !== "help");
  assert.deepEqual(fromEnv.iceServers, [{
    urls: ["turn:t.example"],
    username: "u",
    credential: "c",
  }]);
  assert.ok(!fromEnv.iceCredentialFromFlag);
  const flagged = loadConfig(["--ice-servers", "turn:u:c@t.example"], () => undefined);
  assert.ok(flagged !== "help" && flagged.iceCredentialFromFlag, "a credential in ps: warned");
  assert.throws(
    () => loadConfig(["--ice-servers", "turn:t.example"], () => undefined),
    (err) =>
      err instanceof ConfigError && /^--ice-servers entry 1: a TURN server/.test(err.message),
  );
});
