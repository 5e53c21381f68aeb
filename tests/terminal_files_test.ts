/**
 * The terminal client shares and saves files (`/send`, `/get`) as a real child process, through
 * one-time URLs its encrypted session hands out, against a server with its HTTP port.
 */
import assert from "node:assert/strict";
import { parseChatLine } from "../lib/client/terminal/commands.ts";
import { formatBytes } from "../lib/files/names.ts";
import type { MessageEvent } from "../lib/protocol/types.ts";
import { PASSWORD } from "./helpers.ts";
import { ClientProcess } from "./terminal_process.ts";
import { startWebServer } from "./web_helpers.ts";
import { cookieFor, png, randomBytes, sha256, upload } from "./file_helpers.ts";

Deno.test("/send and /get are read from the chat line", () => {
  assert.deepEqual(parseChatLine("/send @bob ./my notes.txt"), {
    kind: "send_file",
    to: "bob",
    path: "./my notes.txt",
  });
  assert.deepEqual(parseChatLine("/send #dev pic.png"), {
    kind: "send_file",
    to: "#dev",
    path: "pic.png",
  });
  assert.equal(parseChatLine("/send @all x").kind, "invalid");
  assert.equal(parseChatLine("/send bob").kind, "invalid");
  assert.deepEqual(parseChatLine("/get 01ABC"), { kind: "get_file", id: "01ABC" });
  assert.deepEqual(parseChatLine("/get 01ABC /tmp/x"), {
    kind: "get_file",
    id: "01ABC",
    path: "/tmp/x",
  });
});

Deno.test("the terminal client sends a file, and saves one it was sent", async () => {
  const server = await startWebServer();
  const dir = await Deno.makeTempDir({ prefix: "parley-term-files-" });
  const term = new ClientProcess(server.port, ["--name", "alice"]);
  try {
    const bob = await server.user("bob");
    await server.user("alice");
    await term.type(PASSWORD, "");
    await term.waitFor("Welcome back, alice!");

    // alice -> bob, 3 MiB from disk.
    const bytes = randomBytes(3 * 1024 * 1024 + 7);
    await Deno.writeFile(`${dir}/data.bin`, bytes);
    const arrived = bob.next((e) => e.type === "message", 20_000, "the file message");
    await term.type(`/send @bob ${dir}/data.bin`);
    const message = await arrived as MessageEvent;
    assert.equal(message.file?.name, "data.bin");
    assert.equal(message.file?.size, bytes.length);
    await term.waitFor(/shared data\.bin \(3 MiB\) with bob/, 20_000);
    assert.match(term.output, /uploading data\.bin: 3 MiB…/);
    const bobCookie = await cookieFor(server.url, "bob");
    const got = await fetch(`${server.url}/api/files/${message.file!.id}`, {
      headers: { cookie: bobCookie },
    });
    assert.equal(sha256(new Uint8Array(await got.arrayBuffer())), sha256(bytes));

    // bob -> alice, a picture: her line names it with its size and the command that saves it.
    const picture = png(64, 48);
    const up = await upload(server.url, bobCookie, "dot.png", picture, "image/png");
    const id = (up.body.file as { id: string }).id;
    await bob.send("alice", "a picture", undefined, id);
    await term.waitFor(
      `bob → you: a picture [file] dot.png (${formatBytes(picture.length)}, 64x48) /get ${id}`,
    );
    await term.type(`/get ${id} ${dir}`);
    await term.waitFor(`saved ${dir}/dot.png`, 20_000);
    assert.equal(sha256(await Deno.readFile(`${dir}/dot.png`)), sha256(picture));
    // Again: never over the first copy.
    await term.type(`/get ${id} ${dir}`);
    await term.waitFor(`saved ${dir}/dot (1).png`, 20_000);

    // A file nobody shared with alice: refused in words.
    const other = await upload(server.url, bobCookie, "secret.txt", randomBytes(100));
    await term.type(`/get ${(other.body.file as { id: string }).id}`);
    await term.waitFor("There is no file with that id that you may read.");
    // A file that is not there on disk.
    await term.type(`/send @bob ${dir}/missing.bin`);
    await term.waitFor(`Cannot read ${dir}/missing.bin`);
    const status = await term.end();
    assert.equal(status.code, 0);
  } finally {
    await term.dispose();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the terminal client refuses a file over the server's limit before sending it", async () => {
  const server = await startWebServer({ files: { maxFileBytes: 1024 * 1024 } });
  const dir = await Deno.makeTempDir({ prefix: "parley-term-files-" });
  const term = new ClientProcess(server.port, ["--name", "alice"]);
  try {
    await server.user("bob");
    await server.user("alice");
    await term.type(PASSWORD, "");
    await term.waitFor("Welcome back, alice!");
    await Deno.writeFile(`${dir}/big.bin`, randomBytes(2 * 1024 * 1024));
    await term.type(`/send @bob ${dir}/big.bin`);
    await term.waitFor("The file is 2 MiB; files can be at most 1 MiB.");
    assert.equal(await server.store.fileUsage("alice"), 0);
    await term.end();
  } finally {
    await term.dispose();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
