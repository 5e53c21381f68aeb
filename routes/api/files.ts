import { ParleyError } from "../../lib/errors.ts";
import { type FileService } from "../../lib/files/service.ts";
import { INLINE_IMAGE_TYPES } from "../../lib/files/image_size.ts";
import { contentDisposition } from "../../lib/files/names.ts";
import type { FileGrant } from "../../lib/files/tokens.ts";
import type { Context, Handlers } from "../../server/context.ts";
import { HttpError, json } from "../../server/http_error.ts";
import { currentUser, sameOrigin } from "../../server/web_auth.ts";

/** The policy of a file's answer: nothing in it may run, load or be framed. */
export const FILE_CSP = "default-src 'none'; sandbox";

/**
 * Files over HTTP (docs/protocol.md, "Files"). Who asks is the session cookie's user (pages of
 * this origin only: the cookie is SameSite=Strict and the Origin is checked, like the WebSocket
 * upgrade), or the user of a one-time `?token=` handed out through an encrypted session or in an
 * `nc` line.
 *
 * - GET /api/files — `{ maxBytes, quotaBytes, usedBytes }`: the limits, before an upload.
 * - POST /api/files?name=NAME — the body is the file's bytes (`Content-Type` its type),
 *   streamed to disk sealed; 201 `{ file: { id, name, type, size, width?, height? } }`, which a
 *   `send` frame then shares with `"file": id`. 413 `file_too_large` / `over_quota`, 400
 *   `bad_file`, 401 `not_logged_in`, 503 `storage_full`, each with a message for the user.
 * - GET /api/files/ID — the bytes, to the uploader and the readers of a message that shares it
 *   (checked at every request; anyone else gets 404), always as an attachment.
 */
export const handlers: Handlers = {
  async GET(ctx) {
    const files = service(ctx);
    const id = fileIdOf(ctx);
    if (id === undefined) {
      const userKey = await signedIn(ctx);
      return json({
        maxBytes: files.maxFileBytes,
        quotaBytes: files.quotaBytes,
        usedBytes: await files.store.fileUsage(userKey),
      });
    }
    const userKey = await userFor(ctx, (g) => g.purpose === "download" && g.fileId === id);
    const file = await files.readable(userKey, id);
    if (!file) throw new ParleyError("no_such_file");
    // Only the image types shown inline keep their type; anything else (SVG, HTML…) is bytes.
    const inline = (INLINE_IMAGE_TYPES as readonly string[]).includes(file.type);
    const headers: Record<string, string> = {
      "content-type": inline ? file.type : "application/octet-stream",
      "content-length": String(file.size),
      "content-disposition": contentDisposition(file.name),
      "x-content-type-options": "nosniff",
      "content-security-policy": FILE_CSP,
      "cross-origin-resource-policy": "same-origin",
      // The bytes of an id never change, but who may read them can: ask every time.
      "cache-control": "private, no-cache",
      etag: `"${file.id}"`,
    };
    if (ctx.req.headers.get("if-none-match") === headers.etag) {
      return new Response(null, { status: 304, headers });
    }
    if (ctx.req.method === "HEAD") return new Response(null, { headers });
    return new Response(await files.blobs.open(file.address), { headers });
  },

  async POST(ctx) {
    const files = service(ctx);
    if (fileIdOf(ctx) !== undefined) {
      throw new HttpError(405, "Method not allowed.", { allow: "GET, HEAD" });
    }
    const userKey = await userFor(ctx, (g) => g.purpose === "upload");
    const body = ctx.req.body;
    const lengthHeader = ctx.req.headers.get("content-length");
    const length = lengthHeader === null ? undefined : Number(lengthHeader);
    const request = {
      ownerKey: userKey,
      name: ctx.url.searchParams.get("name") ?? "",
      type: ctx.req.headers.get("content-type"),
      length: Number.isSafeInteger(length) ? length : undefined,
    };
    try {
      const file = await files.upload(
        request,
        body ?? new ReadableStream({ start: (c) => c.close() }),
      );
      const { address: _a, ownerKey: _o, createdAt: _c, ...info } = file;
      return json({ file: info }, 201);
    } catch (err) {
      // The rest of a refused body is not read: the connection cannot carry another request.
      if (err instanceof ParleyError) throw new RefusedUpload(err);
      throw err;
    }
  },
};

/** A refused upload: its answer closes the connection (the body was left unread). */
class RefusedUpload extends ParleyError {
  constructor(err: ParleyError) {
    super(err.code, err.message, { cause: err.cause, retryAfter: err.retryAfter });
  }
}

/** Whether an error answer must close the connection. */
export function closesConnection(err: unknown): boolean {
  return err instanceof RefusedUpload;
}

function service(ctx: Context): FileService {
  const files = ctx.app.router.files;
  if (!files) throw new ParleyError("files_unavailable");
  return files;
}

/** `ID` of `/api/files/ID`; undefined for `/api/files` itself. */
function fileIdOf(ctx: Context): string | undefined {
  const rest = ctx.url.pathname.slice("/api/files".length);
  if (rest === "" || rest === "/") return undefined;
  try {
    return decodeURIComponent(rest.slice(1));
  } catch {
    return rest.slice(1); // not an id any file has: answered 404
  }
}

/** The session cookie's user, from a page of this origin. */
async function signedIn(ctx: Context): Promise<string> {
  if (!sameOrigin(ctx)) throw new HttpError(403, "Cross-origin request refused.");
  const who = await currentUser(ctx);
  if (!who) throw new ParleyError("not_logged_in", "Sign in to share files.");
  return who.user.key;
}

/** The user a `?token=` (used up now) or the session cookie speaks for. */
async function userFor(ctx: Context, fits: (grant: FileGrant) => boolean): Promise<string> {
  const token = ctx.url.searchParams.get("token");
  if (token === null) return await signedIn(ctx);
  const grant = await service(ctx).tokens.redeem(token);
  if (!grant || !fits(grant)) {
    throw new ParleyError(
      "not_logged_in",
      "This link was used already or has expired; ask for a new one (/get <id>).",
    );
  }
  return grant.userKey;
}
