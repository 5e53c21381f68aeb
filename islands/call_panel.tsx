import { useEffect, useRef, useState } from "preact/hooks";
import { formatDuration } from "../lib/protocol/call_entry.ts";
import type { CallMedia } from "../lib/protocol/types.ts";
import type { CallController, CallView } from "./call_controller.ts";
import { hue, initial } from "./format.ts";
import { MediaIcon } from "./call_icons.tsx";

/** The call buttons of a private conversation's header. */
export function CallButtons({ calls, peer }: { calls: CallController; peer: string }) {
  const current = calls.call.value;
  const busy = current !== undefined && current.phase !== "ended";
  const unavailable = !calls.available.value;
  const title = (what: string) =>
    unavailable ? "Calls are not available while offline" : `${what} ${peer}`;
  const button = (media: CallMedia, label: string) => (
    <button
      type="button"
      class={`call-start ${media}`}
      data-media={media}
      disabled={busy || unavailable}
      title={title(label)}
      aria-label={`${label} ${peer}`}
      onClick={() => void calls.start(peer, media)}
    >
      <MediaIcon media={media} />
      <span class="call-start-label">{media === "video" ? "Video" : "Call"}</span>
    </button>
  );
  return (
    <div class="call-buttons">
      {button("audio", "Voice call")}
      {button("video", "Video call")}
    </div>
  );
}

/**
 * The call of this tab, over the conversation: ringing (accept or decline), calling (cancel),
 * the call itself (the other side's video, yours small, mute, camera, hang up, how long), and
 * how it ended, in words.
 */
export function CallPanel({ calls }: { calls: CallController }) {
  const c = calls.call.value;
  if (!c) return null;
  const kind = c.media === "video" ? "video call" : "voice call";
  return (
    <section
      class={`call-panel ${c.phase} ${c.media}`}
      data-phase={c.phase}
      role={c.phase === "incoming" ? "alertdialog" : "region"}
      aria-label={`Call with ${c.peer}`}
      aria-describedby="call-status"
    >
      {(c.phase === "connecting" || c.phase === "connected") && <Media c={c} />}
      <div class="call-side">
        <div class="call-head">
          <span class={`avatar hue-${hue(c.peer)}`} aria-hidden="true">{initial(c.peer)}</span>
          <div class="call-who">
            <p class="call-peer" dir="auto">{c.peer}</p>
            <p id="call-status" class="call-status" aria-live="polite">
              <Status c={c} kind={kind} />
            </p>
            {c.message && c.phase !== "ended" && <p class="call-note">{c.message}</p>}
          </div>
        </div>
        <div class="call-controls">
          {c.phase === "incoming" && (
            <>
              <button type="button" class="call-accept" onClick={() => void calls.accept()}>
                Accept
              </button>
              <button type="button" class="call-decline" onClick={() => calls.decline()}>
                Decline
              </button>
            </>
          )}
          {(c.phase === "starting" || c.phase === "ringing") && (
            <button
              type="button"
              class="call-hangup"
              onClick={() => calls.hangup()}
            >
              Cancel
            </button>
          )}
          {(c.phase === "connecting" || c.phase === "connected") && (
            <>
              <button
                type="button"
                class="call-mute"
                aria-pressed={c.muted}
                onClick={() => calls.toggleMute()}
              >
                {c.muted ? "Unmute" : "Mute"}
              </button>
              {c.media === "video" && (
                <button
                  type="button"
                  class="call-camera"
                  aria-pressed={c.cameraOff}
                  onClick={() => calls.toggleCamera()}
                >
                  {c.cameraOff ? "Camera on" : "Camera off"}
                </button>
              )}
              <button type="button" class="call-hangup" onClick={() => calls.hangup()}>
                Hang up
              </button>
            </>
          )}
          {c.phase === "ended" && (
            <button
              type="button"
              class="call-close"
              onClick={() => calls.dismiss()}
            >
              Close
            </button>
          )}
        </div>
      </div>
    </section>
  );
}

function Status({ c, kind }: { c: CallView; kind: string }) {
  switch (c.phase) {
    case "starting":
      return <>Calling… ({kind})</>;
    case "ringing":
      return (
        <>
          Ringing… ({kind}){!c.local &&
            ` Allow the microphone${c.media === "video" ? " and camera" : ""} if the browser asks.`}
        </>
      );
    case "incoming":
      return <>is calling you ({kind})</>;
    case "connecting":
      return <>Connecting…</>;
    case "connected":
      return <Duration since={c.answeredAt ?? Date.now()} />;
    case "ended":
      return <span class="call-ended">{c.message ?? "Call ended."}</span>;
  }
}

/** How long the call has lasted, ticking every second. */
function Duration({ since }: { since: number }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return (
    <span class="call-duration" role="timer">
      {formatDuration((now - since) / 1000)}
    </span>
  );
}

/** The other side's picture (and sound), and yours, small, muted. */
function Media({ c }: { c: CallView }) {
  return (
    <div class="call-media">
      <StreamVideo class="call-remote" stream={c.remote} muted={false} />
      {c.media === "video" && <StreamVideo class="call-local" stream={c.local} muted />}
    </div>
  );
}

function StreamVideo(
  { stream, muted, class: cls }: { stream?: MediaStream; muted: boolean; class: string },
) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const v = ref.current;
    if (v && v.srcObject !== (stream ?? null)) v.srcObject = stream ?? null;
  }, [stream]);
  return <video ref={ref} class={cls} autoplay playsInline muted={muted} />;
}
