import { ParleyError } from "../../errors.ts";
import { CLIENT_TOKEN_TTL_MS } from "../../files/tokens.ts";
import type { Command } from "../../protocol/types.ts";
import type { ClientSession } from "../client_session.ts";
import type { Router } from "../router.ts";

/**
 * {"type":"file_token","purpose":"upload"} or {"type":"file_token","purpose":"download","id":ID}
 * A one-time URL on the HTTP port for a client without a session cookie (the terminal client):
 * the upload's bytes, or the download's, go over HTTP, authorised by the token this encrypted
 * session handed out (docs/protocol.md, "Files"). A download token is only for who may read it.
 */
export async function handleFileToken(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "file_token" }>,
): Promise<void> {
  const files = router.files;
  if (!files) throw new ParleyError("files_unavailable");
  const userKey = session.user!.key;
  if (cmd.purpose === "upload") {
    const { url, expiresAt } = await files.tokenUrl(
      { purpose: "upload", userKey },
      CLIENT_TOKEN_TTL_MS,
    );
    return session.emit({
      type: "file_token",
      purpose: "upload",
      url,
      expiresAt,
      maxBytes: files.maxFileBytes,
      quotaBytes: files.quotaBytes,
      usedBytes: await files.store.fileUsage(userKey),
      cid: cmd.cid,
    });
  }
  const file = cmd.id === undefined ? undefined : await files.readable(userKey, cmd.id);
  if (!file) {
    throw new ParleyError("no_such_file", "There is no file with that id that you may read.");
  }
  const { url, expiresAt } = await files.tokenUrl(
    { purpose: "download", userKey, fileId: file.id },
    CLIENT_TOKEN_TTL_MS,
  );
  session.emit({ type: "file_token", purpose: "download", url, expiresAt, cid: cmd.cid });
}
