/**
 * Sharing files over the real HTTP port and the real router: uploads sealed on disk, downloads
 * only for the readers of the message that shares the file, every refusal with its message,
 * quota, the `nc` link, retention.
 */
import assert from "node:assert/strict";
import type { MessageEvent } from "../lib/protocol/types.ts";
import { textUser } from "./raw.ts";
import { assertNoPlaintext } from "./canary.ts";
import { startWebServer } from "./web_helpers.ts";
import {
  cookieFor,
  filesHolding,
  listFiles,
  png,
  randomBytes,
  sha256,
  upload,
} from "./file_helpers.ts";

const MIB = 1024 * 1024;

Deno.test("a file goes up sealed, reaches its recipient, and nobody else may read it", async () => {
  const server = await startWebServer();
  try {
    const base = server.url;
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    await server.user("carol");
    const [aliceCookie, bobCookie, carolCookie] = await Promise.all(
      ["alice", "bob", "carol"].map((n) => cookieFor(base, n)),
    );
    const bytes = randomBytes(3 * MIB + 123);
    const up = await upload(base, aliceCookie, "report-q3-zebra.bin", bytes);
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const file = up.body.file as { id: string; name: string; size: number; type: string };
    assert.equal(file.name, "report-q3-zebra.bin");
    assert.equal(file.size, bytes.length);

    const arrived = bob.next((e) => e.type === "message", 5000, "bob's file message");
    const sent = await alice.send("bob", "the report", undefined, file.id);
    assert.equal(sent.type, "sent");
    const message = await arrived as MessageEvent;
    assert.deepEqual(message.file, {
      id: file.id,
      name: "report-q3-zebra.bin",
      size: bytes.length,
      type: "application/octet-stream",
    });
    assert.equal(message.text, "the report");

    const got = await fetch(`${base}/api/files/${file.id}`, { headers: { cookie: bobCookie } });
    assert.equal(got.status, 200);
    assert.equal(got.headers.get("x-content-type-options"), "nosniff");
    assert.match(
      got.headers.get("content-disposition")!,
      /^attachment; filename="report-q3-zebra.bin"; filename\*=UTF-8''report-q3-zebra.bin$/,
    );
    assert.equal(got.headers.get("content-type"), "application/octet-stream");
    assert.equal(sha256(new Uint8Array(await got.arrayBuffer())), sha256(bytes));

    // Carol is no reader: as if there were no such file. Nobody signed in: 401.
    const carol = await fetch(`${base}/api/files/${file.id}`, { headers: { cookie: carolCookie } });
    assert.equal(carol.status, 404);
    await carol.body?.cancel();
    const anonymous = await fetch(`${base}/api/files/${file.id}`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();

    // The same bytes again are kept once; the data directory shows none of them.
    const again = await upload(base, aliceCookie, "copy.bin", bytes);
    assert.equal(again.status, 201);
    assert.equal(
      (await listFiles(`${server.dataDir}/files`)).filter((p) =>
        !p.startsWith(`${server.dataDir}/files/tmp/`)
      ).length,
      1,
    );
    assert.deepEqual(await filesHolding(server.dataDir, bytes), []);
    // Nor its name: sealed in the store like message bodies.
    await assertNoPlaintext(`${server.dataDir}/parley.db`, ["report-q3-zebra"]);
  } finally {
    await server.close();
  }
});

Deno.test("a room's members may read a file shared there; one who left may not", async () => {
  const server = await startWebServer();
  try {
    const base = server.url;
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    await alice.request({ type: "join", room: "#dev" }, "joined");
    await bob.request({ type: "join", room: "#dev" }, "joined");
    const [aliceCookie, bobCookie] = await Promise.all(
      ["alice", "bob"].map((n) => cookieFor(base, n)),
    );
    const picture = png(40, 30);
    const up = await upload(base, aliceCookie, "dot.png", picture, "image/png");
    assert.equal(up.status, 201);
    const file = up.body.file as { id: string; width: number; height: number; type: string };
    assert.equal(file.type, "image/png");
    assert.equal(file.width, 40);
    assert.equal(file.height, 30);
    await alice.send("#dev", "", undefined, file.id);
    const ok = await fetch(`${base}/api/files/${file.id}`, { headers: { cookie: bobCookie } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "image/png");
    await ok.body?.cancel();
    await bob.request({ type: "leave", room: "#dev" }, "left");
    const gone = await fetch(`${base}/api/files/${file.id}`, { headers: { cookie: bobCookie } });
    assert.equal(gone.status, 404);
    await gone.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("every refused upload says why: size, quota, name, sign-in, origin", async () => {
  const server = await startWebServer({ files: { maxFileBytes: 1 * MIB, quotaBytes: 2 * MIB } });
  try {
    const base = server.url;
    const cookie = await cookieFor(base, "alice");
    // Declared too large: refused from the header, before a byte of the body.
    const declared = await rawUpload(server.httpPort, cookie, 2 * MIB);
    assert.match(declared, /^HTTP\/1\.1 413/);
    assert.match(
      declared,
      /"code":"file_too_large".*The file is 2 MiB; files can be at most 1 MiB\./,
    );
    // No length given (chunked): refused once the bytes pass the limit.
    const stream = ReadableStream.from([randomBytes(MIB), randomBytes(MIB)]);
    const streamed = await upload(base, cookie, "big.bin", stream);
    assert.equal(streamed.status, 413);
    assert.deepEqual(streamed.body.error, {
      code: "file_too_large",
      message: "The file is more than 1 MiB; files can be at most 1 MiB.",
    });
    // Quota: two files of 0.9 MiB fit in 2 MiB, a third does not.
    for (let i = 0; i < 2; i++) {
      assert.equal((await upload(base, cookie, `f${i}.bin`, randomBytes(0.9 * MIB))).status, 201);
    }
    const over = await upload(base, cookie, "f3.bin", randomBytes(0.9 * MIB));
    assert.equal(over.status, 413);
    assert.equal((over.body.error as { code: string }).code, "over_quota");
    assert.match((over.body.error as { message: string }).message, /over your storage of 2 MiB/);
    const bad = await upload(base, cookie, "", randomBytes(10));
    assert.equal(bad.status, 400);
    assert.equal((bad.body.error as { code: string }).code, "bad_file");
    const anonymous = await upload(base, undefined, "a.txt", randomBytes(10));
    assert.equal(anonymous.status, 401);
    assert.equal((anonymous.body.error as { message: string }).message, "Sign in to share files.");
    const foreign = await fetch(`${base}/api/files?name=a.txt`, {
      method: "POST",
      headers: { origin: "http://evil.example", cookie },
      body: "x",
    });
    assert.equal(foreign.status, 403);
    await foreign.body?.cancel();
    // Nothing of the refused uploads is left behind.
    assert.deepEqual(await listFiles(`${server.dataDir}/files/tmp`), []);
    const limits = await (await fetch(`${base}/api/files`, { headers: { cookie } })).json();
    assert.equal(limits.maxBytes, MIB);
    assert.equal(limits.quotaBytes, 2 * MIB);
  } finally {
    await server.close();
  }
});

Deno.test("an nc user sees the file with a link that works once", async () => {
  const server = await startWebServer();
  try {
    const alice = await server.user("alice");
    const cookie = await cookieFor(server.url, "alice");
    const bytes = randomBytes(5000);
    const up = await upload(server.url, cookie, "notes.txt", bytes, "text/plain");
    const file = up.body.file as { id: string };
    const bob = await textUser(server, "bob");
    await alice.send("bob", "see attached", undefined, file.id);
    const line = await bob.waitFor(/\[file\]/);
    const m = line.match(
      /alice -> you: see attached \[file\] notes\.txt \(4\.9 KiB\) (http:\/\/\S+token=\S+)$/,
    );
    assert.ok(m, line);
    const link = m[1];
    const first = await fetch(link);
    assert.equal(first.status, 200);
    assert.equal(sha256(new Uint8Array(await first.arrayBuffer())), sha256(bytes));
    const second = await fetch(link);
    assert.equal(second.status, 401);
    assert.match((await second.json()).error.message, /used already or has expired/);
  } finally {
    await server.close();
  }
});

Deno.test("retention: files go with the history that shares them, unsent ones after a day", async () => {
  const server = await startWebServer();
  try {
    const alice = await server.user("alice");
    await server.user("bob");
    const cookie = await cookieFor(server.url, "alice");
    const sentUp = await upload(server.url, cookie, "a.bin", randomBytes(70_000));
    const unsentUp = await upload(server.url, cookie, "b.bin", randomBytes(70_000));
    const sent = (sentUp.body.file as { id: string }).id;
    const unsent = (unsentUp.body.file as { id: string }).id;
    await alice.send("bob", "here", undefined, sent);
    const files = server.router.files!;
    assert.equal(await files.prune(), 0, "both are kept while in use or fresh");
    assert.equal((await listFiles(`${server.dataDir}/files`)).length, 2);
    // The history that shares the first goes.
    await server.store.pruneHistory(Date.now() + 1);
    assert.equal(await files.prune(), 1);
    assert.equal(await server.store.getFile(sent), undefined);
    assert.ok(await server.store.getFile(unsent));
    // The one never sent goes a day after its upload.
    assert.equal(await files.prune(Date.now() + 25 * 3600_000), 1);
    assert.equal(await server.store.getFile(unsent), undefined);
    assert.deepEqual(await listFiles(`${server.dataDir}/files`), []);
    assert.equal(await server.store.fileUsage("alice"), 0);
  } finally {
    await server.close();
  }
});

/** An upload that declares `length` bytes and sends none: the answer to its headers alone. */
async function rawUpload(port: number, cookie: string, length: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = [
      "POST /api/files?name=big.bin HTTP/1.1",
      `Host: 127.0.0.1:${port}`,
      `Origin: http://127.0.0.1:${port}`,
      `Cookie: ${cookie}`,
      "Content-Type: application/octet-stream",
      `Content-Length: ${length}`,
      "",
      "",
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(head));
    let out = "";
    const buf = new Uint8Array(4096);
    while (!out.includes("}")) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += new TextDecoder().decode(buf.subarray(0, n));
    }
    return out;
  } finally {
    conn.close();
  }
}
