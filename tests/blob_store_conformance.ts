/**
 * The behaviour every BlobStore (lib/files/blob_store.ts) must have: the data directory's and
 * PostgreSQL's. Each implementation's test file calls `runBlobStoreConformance` with a factory.
 */
import assert from "node:assert/strict";
import { DataKey, generateDataKeyBytes } from "../lib/crypto/mod.ts";
import { type BlobStore, type PutOptions, StreamLimitError } from "../lib/files/blob_store.ts";
import { BlobTamperedError, CHUNK_BYTES } from "../lib/files/sealed_blob.ts";
import { randomBytes, sha256 } from "./file_helpers.ts";

export interface BlobStoreFactory {
  /**
   * A fresh, empty store, and a second one on the same storage (another node or worker).
   */
  open(dataKey: DataKey): Promise<{ blobs: BlobStore; peer: BlobStore }>;
  /** Changes one byte of the stored blob's sealed chunk `index`. */
  tamper(address: string, index: number): Promise<void>;
  /** How many uploads are staged and not filed (0 when nothing was left behind). */
  staged(): Promise<number>;
  /** Whatever the storage holds, in bytes: it must show no plaintext (checked by the caller). */
  contains(plain: Uint8Array): Promise<boolean>;
  close(): Promise<void>;
}

const OPTIONS: PutOptions = { maxBytes: 10 * CHUNK_BYTES, headBytes: 16, stallMs: 5_000 };

/** `bytes` as a stream in pieces of `step`. */
function streamOf(bytes: Uint8Array, step = 10_000): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at += step));
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export function runBlobStoreConformance(name: string, factory: BlobStoreFactory): void {
  const test = (what: string, fn: (blobs: BlobStore, peer: BlobStore) => Promise<void>) =>
    Deno.test(`${name}: ${what}`, async () => {
      const { blobs, peer } = await factory.open(
        await DataKey.fromBytes(generateDataKeyBytes(), { source: "a test key" }),
      );
      try {
        await fn(blobs, peer);
      } finally {
        await factory.close();
      }
    });

  const put = (blobs: BlobStore, bytes: Uint8Array) =>
    blobs.put(streamOf(bytes), OPTIONS, (r) => Promise.resolve(r));

  test(
    "keeps bytes of any size sealed, and streams them back whole on every node",
    async (blobs, peer) => {
      for (
        const size of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 5]
      ) {
        const bytes = randomBytes(size);
        const result = await put(blobs, bytes);
        assert.match(result.address, /^[0-9a-f]{64}$/);
        assert.equal(result.size, size);
        assert.deepEqual(result.head, bytes.slice(0, 16));
        assert.equal(await peer.exists(result.address), true);
        assert.equal(sha256(await readAll(await peer.open(result.address))), sha256(bytes));
        if (size >= 64) assert.equal(await factory.contains(bytes.slice(0, 64)), false, "sealed");
      }
      assert.equal(await factory.staged(), 0);
    },
  );

  test("keeps the same bytes once, whoever uploads them", async (blobs, peer) => {
    const bytes = randomBytes(CHUNK_BYTES * 2);
    const [a, b] = await Promise.all([put(blobs, bytes), put(peer, bytes)]);
    assert.equal(a.address, b.address);
    assert.equal(sha256(await readAll(await blobs.open(a.address))), sha256(bytes));
    assert.equal(await factory.staged(), 0);
  });

  test("files a blob only after its commit, and leaves nothing when it or the upload fails", async (blobs) => {
    const bytes = randomBytes(CHUNK_BYTES + 7);
    let address = "";
    await assert.rejects(
      blobs.put(streamOf(bytes), OPTIONS, async (r) => {
        address = r.address;
        assert.equal(await blobs.exists(r.address), false, "not before the commit");
        throw new Error("the record could not be made");
      }),
      /could not be made/,
    );
    assert.equal(await blobs.exists(address), false);
    await assert.rejects(
      blobs.put(
        streamOf(randomBytes(CHUNK_BYTES * 2)),
        { ...OPTIONS, maxBytes: CHUNK_BYTES },
        () => Promise.resolve(),
      ),
      (err) => err instanceof StreamLimitError && err.received > CHUNK_BYTES,
    );
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(randomBytes(CHUNK_BYTES * 2));
        controller.error(new Error("the connection dropped"));
      },
    });
    await assert.rejects(blobs.put(broken, OPTIONS, () => Promise.resolve()), /dropped/);
    assert.equal(await factory.staged(), 0);
  });

  test("removes a blob on every node; removing it again is fine", async (blobs, peer) => {
    const { address } = await put(blobs, randomBytes(100));
    await peer.remove(address);
    assert.equal(await blobs.exists(address), false);
    await assert.rejects(blobs.open(address), Deno.errors.NotFound);
    await blobs.remove(address);
    // Uploaded again after its removal: it is back.
    const again = await put(peer, randomBytes(5));
    assert.equal(await blobs.exists(again.address), true);
  });

  test("a changed chunk stops the stream there, never passing for the file", async (blobs) => {
    const bytes = randomBytes(3 * CHUNK_BYTES);
    const { address } = await put(blobs, bytes);
    await factory.tamper(address, 1);
    const reader = (await blobs.open(address)).getReader();
    const first = await reader.read();
    assert.equal(first.value?.length, CHUNK_BYTES, "the chunk before it is authentic");
    await assert.rejects(reader.read(), BlobTamperedError);
  });

  test("a sweep leaves filed blobs alone", async (blobs) => {
    const { address } = await put(blobs, randomBytes(10));
    await blobs.sweep(0, Date.now() + 60_000);
    assert.equal(await blobs.exists(address), true);
  });
}
