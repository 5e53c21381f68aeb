/** The guard against npm `postgres` writing to a closed socket from a timer (client_guard.ts). */
import assert from "node:assert/strict";
import { createLogger } from "../lib/log.ts";
import {
  guardClosedSocketWrites,
  isClosedSocketWrite,
} from "../lib/store/postgres/client_guard.ts";

/**
 * A module laid out like the library's (`…/postgres/src/connection.js`) whose `nextWrite` does
 * what the library's does after a close: writes to a null socket, from `setImmediate`.
 */
async function fakeLibrary(dir: string) {
  await Deno.mkdir(`${dir}/postgres/src`, { recursive: true });
  const path = `${dir}/postgres/src/connection.js`;
  await Deno.writeTextFile(
    path,
    `import { setImmediate } from "node:timers";
let socket = null;
function nextWrite() { return socket.write("x"); }
export function scheduleWrite() { setImmediate(nextWrite); }
export function other() { setImmediate(() => socket.write("x")); }
`,
  );
  return await import(`file://${path}`);
}

Deno.test("the PostgreSQL client's write to a closed socket does not end the process", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-guard-" });
  try {
    const lib = await fakeLibrary(dir);
    const lines: string[] = [];
    guardClosedSocketWrites(createLogger("debug", (line) => lines.push(line)));
    lib.scheduleWrite();
    // Without the guard the test fails here with an uncaught TypeError.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(lines.filter((l) => /already closed/.test(l)).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the guard recognises only that error", () => {
  const named = (message: string, frame: string) => {
    const err = new TypeError(message);
    err.stack = `TypeError: ${message}\n    at ${frame}`;
    return err;
  };
  const frame = "Immediate.nextWrite (file:///n/postgres/3.4.10/src/connection.js:258:22)";
  assert.ok(isClosedSocketWrite(named("Cannot read properties of null (reading 'write')", frame)));
  assert.ok(!isClosedSocketWrite(named("Cannot read properties of null (reading 'end')", frame)));
  assert.ok(
    !isClosedSocketWrite(
      named("Cannot read properties of null (reading 'write')", "nextWrite (file:///app/x.ts:1:1)"),
    ),
  );
  assert.ok(!isClosedSocketWrite(new Error("Cannot read properties of null (reading 'write')")));
});
