import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { ChatConnection } from "./chat_connection.ts";
import { EVERYONE } from "./chat_state.ts";
import { formatBytes } from "../lib/files/names.ts";

/** A name for a pasted picture, which comes without one: `pasted-14-02-05.png`. */
function pastedName(file: File): string {
  if (file.name && file.name !== "image.png") return file.name;
  const ext = file.type.split("/")[1]?.replace(/[^a-z0-9]/g, "") || "bin";
  const t = new Date();
  const hms = [t.getHours(), t.getMinutes(), t.getSeconds()]
    .map((n) => String(n).padStart(2, "0")).join("-");
  return `pasted-${hms}.${ext}`;
}

/**
 * Sharing files from the composer: the attach button, pictures pasted into the input, files
 * dropped anywhere on the page; each goes to the open conversation. A conversation with
 * everyone keeps no files, so there the button is off and a drop says why.
 */
export function useFileShare(chat: ChatConnection) {
  const { state } = chat;
  const [dragging, setDragging] = useState(false);
  const active = state.active.value;
  const target = active === EVERYONE ? undefined : state.titleOf(active);

  const share = (files: Iterable<File>, pasted = false) => {
    if (!target) {
      state.notice.value = "Files go to a person or a room: open one, then share the file.";
      return;
    }
    for (const f of files) void chat.shareFile(target, f, pasted ? pastedName(f) : f.name);
  };
  // The latest `share`, for the page-wide listeners below.
  const shareRef = useRef(share);
  shareRef.current = share;

  useEffect(() => {
    let depth = 0;
    const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes("Files") ?? false;
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth++;
      setDragging(true);
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const over = (e: DragEvent) => {
      if (hasFiles(e)) e.preventDefault();
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      setDragging(false);
      shareRef.current(Array.from(e.dataTransfer?.files ?? []));
    };
    document.addEventListener("dragenter", enter);
    document.addEventListener("dragleave", leave);
    document.addEventListener("dragover", over);
    document.addEventListener("drop", drop);
    return () => {
      document.removeEventListener("dragenter", enter);
      document.removeEventListener("dragleave", leave);
      document.removeEventListener("dragover", over);
      document.removeEventListener("drop", drop);
    };
  }, []);

  /** Pictures pasted into the input are shared; pasted text stays text. */
  const onPaste = (e: JSX.TargetedClipboardEvent<HTMLTextAreaElement>) => {
    const files = Array.from(e.clipboardData?.files ?? []).filter((f) =>
      f.type.startsWith("image/")
    );
    if (files.length === 0) return;
    e.preventDefault();
    share(files, true);
  };

  return { share, onPaste, dragging, target };
}

/** The attach button and its hidden file input. */
export function AttachButton(
  { target, share }: { target: string | undefined; share: (files: Iterable<File>) => void },
) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <input
        ref={input}
        type="file"
        multiple
        class="sr-only"
        id="file-input"
        tabIndex={-1}
        aria-hidden="true"
        onChange={(e) => {
          share(Array.from(e.currentTarget.files ?? []));
          e.currentTarget.value = "";
        }}
      />
      <button
        type="button"
        class="attach"
        aria-label={target ? `Share a file with ${target}` : "Open a conversation to share a file"}
        title={target ? `Share a file with ${target}` : "Files go to a person or a room"}
        disabled={!target}
        onClick={() => input.current?.click()}
      >
        <svg viewBox="0 0 24 24" aria-hidden="true" width="20" height="20">
          <path
            d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9V15.5a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z"
            fill="currentColor"
          />
        </svg>
      </button>
    </>
  );
}

/** Files on their way up: name, progress bar, cancel; a refusal stays until dismissed. */
export function UploadList({ chat }: { chat: ChatConnection }) {
  const uploads = chat.state.uploads.value;
  if (uploads.length === 0) return null;
  return (
    <ul class="uploads" aria-label="Files being shared">
      {uploads.map((u) => (
        <li key={u.key} class={`upload${u.error ? " failed" : ""}`}>
          <span class="upload-name" dir="auto">{u.name}</span>
          {u.error
            ? (
              <>
                <span class="upload-error" role="alert">{u.error}</span>
                <button
                  type="button"
                  class="upload-dismiss"
                  onClick={() => chat.dismissUpload(u.key)}
                >
                  Dismiss
                </button>
              </>
            )
            : (
              <>
                <progress
                  max={u.size || 1}
                  value={u.loaded}
                  aria-label={`Uploading ${u.name} to ${u.to}`}
                />
                <span class="upload-size">
                  {formatBytes(u.loaded)} of {formatBytes(u.size)}
                </span>
                <button type="button" class="upload-cancel" onClick={() => u.cancel()}>
                  Cancel
                </button>
              </>
            )}
        </li>
      ))}
    </ul>
  );
}
