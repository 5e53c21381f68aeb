/**
 * The parts of file sharing that need no server: the sealed chunk format (docs/security.md
 * §9.4), image sizes from headers, names and the Content-Disposition.
 */
import assert from "node:assert/strict";
import { DataKey, generateDataKeyBytes } from "../lib/crypto/mod.ts";
import {
  BlobTamperedError,
  CHUNK_BYTES,
  openSealedBlob,
  SealedBlobWriter,
  sealedSize,
} from "../lib/files/sealed_blob.ts";
import { probeImage } from "../lib/files/image_size.ts";
import {
  checkFileName,
  checkFileType,
  contentDisposition,
  formatBytes,
} from "../lib/files/names.ts";
import { isParleyError } from "../lib/errors.ts";
import { FileTokens } from "../lib/files/tokens.ts";
import { DirBlobStore } from "../lib/files/blob_store.ts";
import { FileService, UNSENT_FILE_TTL_MS } from "../lib/files/service.ts";
import { SqliteStore } from "../lib/store/sqlite.ts";
import { png, randomBytes, sha256 } from "./file_helpers.ts";

async function seal(key: DataKey, bytes: Uint8Array, pieces = 7): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "parley-blob-" });
  const file = await Deno.open(path, { write: true });
  const writer = new SealedBlobWriter(key, file);
  const step = Math.ceil(bytes.length / pieces) || 1;
  for (let at = 0; at < bytes.length; at += step) await writer.write(bytes.subarray(at, at + step));
  await writer.finish();
  file.close();
  return path;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("a sealed blob opens to its bytes, whatever its size, and its size is as specified", async () => {
  const key = await DataKey.fromBytes(generateDataKeyBytes());
  for (const size of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 5]) {
    const bytes = randomBytes(size);
    const path = await seal(key, bytes);
    try {
      assert.equal((await Deno.stat(path)).size, sealedSize(size), `size ${size}`);
      assert.equal(sha256(await readAll(await openSealedBlob(key, path))), sha256(bytes));
    } finally {
      await Deno.remove(path);
    }
  }
});

Deno.test("a sealed blob that was changed, cut short, extended or keyed otherwise does not open", async () => {
  const key = await DataKey.fromBytes(generateDataKeyBytes());
  const bytes = randomBytes(2 * CHUNK_BYTES + 100);
  const path = await seal(key, bytes);
  const good = await Deno.readFile(path);
  const attempts: [string, Uint8Array][] = [
    [
      "a flipped bit",
      (() => {
        const b = good.slice();
        b[40] ^= 1;
        return b;
      })(),
    ],
    // Cut at the end of the first chunk: what is left is whole chunks, but the last says "more".
    ["cut at a chunk boundary", good.slice(0, 20 + 4 + CHUNK_BYTES + 29)],
    ["cut mid-chunk", good.slice(0, good.length - 10)],
    ["extended", new Uint8Array([...good, 0, 0, 0, 1, 7])],
  ];
  try {
    for (const [what, damaged] of attempts) {
      await Deno.writeFile(path, damaged);
      await assert.rejects(
        async () => await readAll(await openSealedBlob(key, path)),
        (err) => err instanceof BlobTamperedError,
        what,
      );
    }
    await Deno.writeFile(path, good);
    const other = await DataKey.fromBytes(generateDataKeyBytes());
    await assert.rejects(
      async () => await readAll(await openSealedBlob(other, path)),
      (err) => err instanceof BlobTamperedError,
    );
    assert.equal(sha256(await readAll(await openSealedBlob(key, path))), sha256(bytes));
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("probeImage() reads the pixel size of PNG, GIF, JPEG and WebP from their first bytes", () => {
  assert.deepEqual(probeImage(png(640, 480)), { type: "image/png", width: 640, height: 480 });
  const gif = new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x20, 0x03, 0x58, 0x02, 0, 0]);
  assert.deepEqual(probeImage(gif), { type: "image/gif", width: 800, height: 600 });
  // SOI, an APP0 segment, then SOF0 with height 300 and width 500.
  const jpeg = new Uint8Array([
    0xff,
    0xd8,
    0xff,
    0xe0,
    0x00,
    0x04,
    0x4a,
    0x46,
    0xff,
    0xc0,
    0x00,
    0x11,
    0x08,
    0x01,
    0x2c,
    0x01,
    0xf4,
    0x03,
    0,
    0,
    0,
    0,
  ]);
  assert.deepEqual(probeImage(jpeg), { type: "image/jpeg", width: 500, height: 300 });
  const webp = new Uint8Array(30);
  webp.set([0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x58]);
  webp.set([99, 0, 0, 49, 0, 0], 24); // VP8X: canvas 100 x 50, stored minus one
  assert.deepEqual(probeImage(webp), { type: "image/webp", width: 100, height: 50 });
  const svg = new TextEncoder().encode("<svg xmlns='http://www.w3.org/2000/svg'/>");
  assert.equal(probeImage(svg), undefined);
  assert.equal(probeImage(new Uint8Array(0)), undefined);
  const huge = png(1, 1);
  new DataView(huge.buffer).setUint32(16, 1_000_000);
  assert.equal(probeImage(huge), undefined, "a side past 65535 is not believed");
});

Deno.test("file names are kept without directories or control characters", () => {
  assert.equal(checkFileName("../../etc/passwd"), "passwd");
  assert.equal(checkFileName("C:\\Users\\me\\photo.png"), "photo.png");
  assert.equal(checkFileName("  résumé (final).pdf "), "résumé (final).pdf");
  for (const bad of ["", "..", "a\u0000b", "evil\u202etxt.exe", "x".repeat(256)]) {
    assert.throws(() => checkFileName(bad), (err) => isParleyError(err, "bad_file"), bad);
  }
  assert.equal(checkFileType("Image/PNG; charset=x"), "image/png");
  assert.equal(checkFileType("not a type"), "application/octet-stream");
  assert.equal(checkFileType(null), "application/octet-stream");
});

Deno.test("contentDisposition() gives an ASCII name and the exact one (RFC 6266, RFC 8187)", () => {
  assert.equal(
    contentDisposition('my "report"\\ é.pdf'),
    `attachment; filename="my _report__ _.pdf"; filename*=UTF-8''my%20%22report%22%5C%20%C3%A9.pdf`,
  );
  assert.equal(
    contentDisposition("it's (1).txt"),
    `attachment; filename="it's (1).txt"; filename*=UTF-8''it%27s%20%281%29.txt`,
  );
});

Deno.test("formatBytes() says sizes as people read them", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(3 * 1024 * 1024 + 7), "3 MiB");
  assert.equal(formatBytes(25 * 1024 * 1024), "25 MiB");
});

Deno.test("one-time tokens work once, for what they were issued, until they expire, on any worker", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-tokens-" });
  const key = await DataKey.fromBytes(generateDataKeyBytes());
  // Two workers of one machine: two stores on one SQLite file.
  const stores = [
    await SqliteStore.open({ path: `${dir}/parley.db`, dataKey: key }),
    await SqliteStore.open({ path: `${dir}/parley.db`, dataKey: key }),
  ];
  try {
    let now = Date.now();
    const [one, two] = stores.map((store) => new FileTokens(store, { now: () => now }));
    const a = one.issue({ purpose: "download", userKey: "bob", fileId: "f" }, 60_000);
    assert.equal(await a.saved, true);
    const both = await Promise.all([two.redeem(a.token), one.redeem(a.token)]);
    assert.deepEqual(both.filter((g) => g !== undefined), [
      { purpose: "download", userKey: "bob", fileId: "f" },
    ]);
    assert.equal(await two.redeem(a.token), undefined, "used up");
    // Redeemed on the worker that issued it before the save finished: it waits for the save.
    const fast = one.issue({ purpose: "upload", userKey: "bob" }, 60_000);
    assert.deepEqual(await one.redeem(fast.token), { purpose: "upload", userKey: "bob" });
    const b = one.issue({ purpose: "upload", userKey: "bob" }, 60_000);
    await b.saved;
    now += 60_000;
    assert.equal(await two.redeem(b.token), undefined, "expired");
    assert.equal(await two.redeem("made-up"), undefined);
  } finally {
    for (const store of stores) await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two workers: an upload of bytes a prune is removing waits, then keeps its own copy", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-files-workers-" });
  const key = await DataKey.fromBytes(generateDataKeyBytes());
  const stores = [
    await SqliteStore.open({ path: `${dir}/parley.db`, dataKey: key }),
    await SqliteStore.open({ path: `${dir}/parley.db`, dataKey: key }),
  ];
  // Worker one's removals wait at a gate, so worker two's upload comes in the middle of one.
  const gate = Promise.withResolvers<void>();
  const removing = Promise.withResolvers<void>();
  class GatedBlobs extends DirBlobStore {
    override async remove(address: string) {
      removing.resolve();
      await gate.promise;
      await super.remove(address);
    }
    // The test moves the prune's clock for the records only: uploads under way are fresh.
    override sweep(olderThanMs: number) {
      return super.sweep(olderThanMs, Date.now());
    }
  }
  const [one, two] = stores.map((store, i) =>
    new FileService({
      store,
      dataKey: key,
      dir: `${dir}/files`,
      blobs: i === 0 ? new GatedBlobs(`${dir}/files`, key) : undefined,
    })
  );
  const bytes = randomBytes(CHUNK_BYTES + 3);
  const body = () => new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
  try {
    const old = await one.upload({ ownerKey: "alice", name: "a.bin" }, body());
    // A day later it was never sent: worker one prunes it, and is deleting its blob...
    const pruned = one.prune(Date.now() + 2 * UNSENT_FILE_TTL_MS);
    await removing.promise;
    // ...when worker two takes an upload of the same bytes.
    let recorded = false;
    const again = two.upload({ ownerKey: "bob", name: "b.bin" }, body()).then((f) => {
      recorded = true;
      return f;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(recorded, false, "held back while the blob is being removed");
    gate.resolve();
    assert.equal(await pruned, 1);
    const file = await again;
    assert.equal(file.address, old.address);
    assert.equal(await stores[0].getFile(old.id), undefined);
    const back = await readAll(await one.blobs.open(file.address));
    assert.equal(sha256(back), sha256(bytes), "the new record's blob is there");
  } finally {
    for (const store of stores) await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
