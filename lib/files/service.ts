/**
 * Files as the router and the HTTP endpoint see them: uploads checked against the size limit and
 * the uploader's quota, kept sealed in the {@linkcode BlobStore} and recorded in the store;
 * downloads only for who may read them; one-time tokens for clients without a cookie; files
 * forgotten once nothing refers to them. docs/protocol.md ("Files") says how clients use it.
 */
import { ParleyError } from "../errors.ts";
import { newMessageId } from "../ids.ts";
import type { Logger } from "../log.ts";
import type { FileMeta, FileRecord, Store } from "../store/store.ts";
import { parseConv } from "../store/conv.ts";
import { type BlobStore, DirBlobStore, StreamLimitError } from "./blob_store.ts";
import { PROBE_BYTES, probeImage } from "./image_size.ts";
import { checkFileName, checkFileType } from "./names.ts";
import { overQuotaMessage, tooLargeMessage } from "./refusals.ts";
import { type FileGrant, FileTokens, LINK_TOKEN_TTL_MS } from "./tokens.ts";
import type { DataKey } from "../crypto/data_key.ts";

/** Default largest file, in MiB (`--max-file-mib`). */
export const DEFAULT_MAX_FILE_MIB = 25;
/** Default storage per user, in MiB (`--file-quota-mib`): forty files at the largest size. */
export const DEFAULT_FILE_QUOTA_MIB = 1024;
/** An upload that sends nothing for this long is dropped. */
export const UPLOAD_STALL_MS = 30_000;
/** How long an upload waits for a removal of the same bytes to finish before it gives up. */
export const REMOVAL_WAIT_MS = 30_000;
/** A file uploaded but never sent is forgotten after this long. */
export const UNSENT_FILE_TTL_MS = 24 * 60 * 60 * 1000;

const MIB = 1024 * 1024;

export interface FileServiceOptions {
  store: Store;
  dataKey: DataKey;
  /** Where the sealed blobs live: `<data-dir>/files`, unless `blobs` is given. */
  dir: string;
  /** The blob store to use instead of the directory (the database's, on PostgreSQL). */
  blobs?: BlobStore;
  /** @default DEFAULT_MAX_FILE_MIB MiB */
  maxFileBytes?: number;
  /** @default DEFAULT_FILE_QUOTA_MIB MiB */
  quotaBytes?: number;
  logger?: Logger;
}

/** What an upload declares before its bytes. */
export interface UploadRequest {
  ownerKey: string;
  name: string;
  /** The media type the client gives; images are checked against their bytes. */
  type?: string | null;
  /** The request's Content-Length, when it had one. */
  length?: number;
}

export class FileService {
  readonly store: Store;
  readonly blobs: BlobStore;
  readonly maxFileBytes: number;
  readonly quotaBytes: number;
  readonly tokens: FileTokens;
  /**
   * Where the HTTP endpoint is (`http://host:port/`), once it listens: the base of the links and
   * token URLs. Undefined while there is none: files cannot move then.
   */
  baseUrl?: string;
  #logger?: Logger;

  constructor(options: FileServiceOptions) {
    this.store = options.store;
    this.blobs = options.blobs ?? new DirBlobStore(options.dir, options.dataKey);
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_MIB * MIB;
    this.quotaBytes = options.quotaBytes ?? DEFAULT_FILE_QUOTA_MIB * MIB;
    this.#logger = options.logger;
    this.tokens = new FileTokens(this.store, { logger: options.logger });
  }

  /** Refuses a declared length over the limit or the quota, before any byte is read. */
  async precheck(req: UploadRequest): Promise<{ name: string; type: string; used: number }> {
    const name = checkFileName(req.name);
    const type = checkFileType(req.type);
    if (req.length !== undefined && req.length > this.maxFileBytes) {
      throw this.tooLarge(req.length, true);
    }
    const used = await this.store.fileUsage(req.ownerKey);
    if (req.length !== undefined && used + req.length > this.quotaBytes) {
      throw this.overQuota(used, req.length);
    }
    return { name, type, used };
  }

  /**
   * Streams an upload into the sealed store and records it. The size limit and the quota are
   * checked from the declared length first, then again on the bytes as they come.
   */
  async upload(req: UploadRequest, body: ReadableStream<Uint8Array>): Promise<FileRecord> {
    const { name, type, used } = await this.precheck(req);
    const room = Math.min(this.maxFileBytes, Math.max(0, this.quotaBytes - used));
    try {
      return await this.blobs.put(
        body,
        { maxBytes: room, headBytes: PROBE_BYTES, stallMs: UPLOAD_STALL_MS },
        async ({ address, size, head }) => {
          const image = probeImage(head);
          const record: FileRecord = {
            id: newMessageId(),
            name,
            // An image is what its bytes say; a claimed image that is not one is just bytes.
            type: image?.type ??
              (type.startsWith("image/") && !type.includes("svg")
                ? "application/octet-stream"
                : type),
            size,
            address,
            ownerKey: req.ownerKey,
            createdAt: Date.now(),
          };
          if (image) {
            record.width = image.width;
            record.height = image.height;
          }
          await this.#record(record);
          return record;
        },
      );
    } catch (err) {
      if (!(err instanceof StreamLimitError)) throw err;
      if (err.received > this.maxFileBytes) throw this.tooLarge(err.received, false);
      throw this.overQuota(used, err.received);
    }
  }

  /**
   * Records an upload. While a prune (on this node or another) is removing a blob of the same
   * bytes, the store holds the record back: wait for that removal to finish, after which `put`
   * files this upload's own copy.
   */
  async #record(record: FileRecord): Promise<void> {
    const until = Date.now() + REMOVAL_WAIT_MS;
    while (!await this.store.putFile(record)) {
      if (Date.now() > until) {
        throw new ParleyError(
          "storage_unavailable",
          "Not stored: the server is busy removing a copy of this file; upload it again shortly.",
          { retryAfter: 5 },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The refusal of a file over the limit; `known`: `size` is its whole size. */
  tooLarge(size: number, known: boolean): ParleyError {
    return new ParleyError("file_too_large", tooLargeMessage(size, known, this.maxFileBytes));
  }

  overQuota(used: number, size: number): ParleyError {
    return new ParleyError("over_quota", overQuotaMessage(size, used, this.quotaBytes));
  }

  /**
   * The file, when `userKey` may read it: they uploaded it, or it was shared in a private
   * conversation of theirs, or in a room they are a member of now. Undefined otherwise (the
   * caller answers as if there were no such file).
   */
  async readable(userKey: string, id: string): Promise<FileRecord | undefined> {
    if (!/^[\x21-\x7e]{1,64}$/.test(id)) return undefined;
    const file = await this.store.getFile(id);
    if (!file) return undefined;
    if (file.ownerKey === userKey) return file;
    for (const conv of await this.store.fileConvs(id)) {
      const target = parseConv(conv);
      if (target.kind === "private" && target.users.includes(userKey)) return file;
      if (target.kind === "room" && await this.store.member(target.room, userKey)) return file;
    }
    return undefined;
  }

  /**
   * The file a message is to share: one `userKey` uploaded.
   * @throws {ParleyError} `no_such_file` for another's file or none.
   */
  async attachable(userKey: string, id: string): Promise<FileMeta> {
    const file = /^[\x21-\x7e]{1,64}$/.test(id) ? await this.store.getFile(id) : undefined;
    if (!file || file.ownerKey !== userKey) {
      throw new ParleyError("no_such_file", "There is no file of yours with that id; upload it.");
    }
    const { address: _a, ownerKey: _o, createdAt: _c, ...meta } = file;
    return meta;
  }

  /**
   * A one-time URL for `grant`, once the store has its token (so any node takes it), or
   * `files_unavailable` without an HTTP endpoint.
   * @throws {ParleyError} `storage_unavailable` when the token could not be saved.
   */
  async tokenUrl(grant: FileGrant, ttlMs: number): Promise<{ url: string; expiresAt: number }> {
    const issued = this.#issue(grant, ttlMs);
    if (!await issued.saved) throw new ParleyError("storage_unavailable");
    return issued;
  }

  #issue(grant: FileGrant, ttlMs: number) {
    if (this.baseUrl === undefined) {
      throw new ParleyError("files_unavailable");
    }
    const { token, expiresAt, saved } = this.tokens.issue(grant, ttlMs);
    const path = grant.purpose === "upload" ? "api/files" : `api/files/${grant.fileId}`;
    return { url: `${this.baseUrl}${path}?token=${token}`, expiresAt, saved };
  }

  /**
   * The one-time link an `nc` reader gets with a file message; undefined without HTTP. Handed
   * out at once (the line is being written) while its token is saved: this node waits for that
   * save before it looks the token up, and another node looks again a while (`FileTokens`).
   */
  linkFor(userKey: string, fileId: string): string | undefined {
    if (this.baseUrl === undefined) return undefined;
    return this.#issue({ purpose: "download", userKey, fileId }, LINK_TOKEN_TTL_MS).url;
  }

  /**
   * Forgets files nothing refers to any more (their history was pruned) and uploads never sent
   * within a day, and deletes their blobs. The store marks each blob it hands out as being
   * removed (uploads of the same bytes wait meanwhile, on every node) until
   * `blobsRemoved` says it is gone. Returns how many blobs went.
   */
  async prune(now = Date.now()): Promise<number> {
    const gone = await this.store.pruneFiles(now - UNSENT_FILE_TTL_MS);
    const removed: string[] = [];
    for (const address of gone) {
      try {
        await this.blobs.remove(address);
        removed.push(address);
      } catch (err) {
        // Still marked: a prune after the lease takes it up again.
        this.#logger?.warn("could not remove an unused file's blob", { address, error: err });
      }
    }
    if (removed.length > 0) await this.store.blobsRemoved(removed);
    await this.blobs.sweep(UNSENT_FILE_TTL_MS, now).catch((err) =>
      this.#logger?.warn("could not sweep old temporary uploads", { error: err })
    );
    return removed.length;
  }
}
