/** The icons of calls, drawn inline (no icon font or emoji font needed; the CSP allows no more). */

/** A telephone handset: voice calls. */
export function PhoneIcon() {
  return (
    <svg class="call-icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
      <path
        d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.46.57 3.6a1 1 0 0 1-.25 1z"
        fill="currentColor"
      />
    </svg>
  );
}

/** A video camera: video calls. */
export function VideoIcon() {
  return (
    <svg class="call-icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
      <path
        d="M4 6h11a1 1 0 0 1 1 1v3.2l4.4-2.9a.4.4 0 0 1 .6.33v8.74a.4.4 0 0 1-.6.33L16 13.8V17a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1z"
        fill="currentColor"
      />
    </svg>
  );
}

/** The icon of a call of `media`. */
export function MediaIcon({ media }: { media: "audio" | "video" }) {
  return media === "video" ? <VideoIcon /> : <PhoneIcon />;
}
