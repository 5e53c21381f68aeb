import type { FileInfo } from "../lib/protocol/types.ts";
import { formatBytes } from "../lib/files/names.ts";

/** The types shown inline as pictures; any other file (SVG and HTML included) is a link. */
const INLINE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
/** The box a preview is scaled into, in CSS pixels. */
const PREVIEW_W = 320;
const PREVIEW_H = 240;

/** A preview's size: the picture scaled (never up) to fit the box, its proportions kept. */
export function previewSize(width: number, height: number): { width: number; height: number } {
  const scale = Math.min(1, PREVIEW_W / width, PREVIEW_H / height);
  return {
    width: Math.max(1, Math.round(width * scale)),
    height: Math.max(1, Math.round(height * scale)),
  };
}

/**
 * A shared file in a message: a picture's preview, its size known from the message so the list
 * does not jump when it loads (and scaled down by CSS on a narrow screen), or a link with the
 * name and size. Either downloads the file; the server sends it as an attachment.
 */
export function FileCard({ file }: { file: FileInfo }) {
  const href = `/api/files/${encodeURIComponent(file.id)}`;
  const label = `${file.name}, ${formatBytes(file.size)}`;
  if (INLINE.has(file.type) && file.width && file.height) {
    const box = previewSize(file.width, file.height);
    return (
      <figure class="file-preview">
        <a href={href} download={file.name} title={`Download ${label}`}>
          <img src={href} width={box.width} height={box.height} alt={file.name} loading="lazy" />
        </a>
        <figcaption>
          <span dir="auto">{file.name}</span> · {formatBytes(file.size)} ·{" "}
          {file.width}×{file.height}
        </figcaption>
      </figure>
    );
  }
  return (
    <p class="file-link">
      <a href={href} download={file.name} title={`Download ${label}`}>
        <svg viewBox="0 0 24 24" aria-hidden="true" width="18" height="18">
          <path
            d="M6 2h8l6 6v14H6zM13 3.5V9h5.5"
            fill="none"
            stroke="currentColor"
            stroke-width="1.6"
          />
        </svg>
        <span class="file-name" dir="auto">{file.name}</span>
      </a>
      <span class="file-size">{formatBytes(file.size)}</span>
    </p>
  );
}
