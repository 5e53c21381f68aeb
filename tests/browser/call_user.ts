/** A browser user's calls, in the words of the tests: the panel, and the page's peer connection. */
import type { Page } from "playwright-core";
import type { PageUser } from "./page_user.ts";

/** What `getStats()` says the page received, per kind of media. */
export interface Received {
  audio: number;
  video: number;
}

/**
 * Keeps every RTCPeerConnection the page makes in `window.__peerConnections`, so a test can
 * read its state and statistics (the page itself keeps no global of it).
 */
export async function watchPeerConnections(user: PageUser): Promise<void> {
  await user.context.addInitScript(() => {
    const Original = globalThis.RTCPeerConnection;
    const made: RTCPeerConnection[] = [];
    Object.assign(globalThis, { __peerConnections: made });
    globalThis.RTCPeerConnection = class extends Original {
      constructor(config?: RTCConfiguration) {
        super(config);
        made.push(this);
      }
    } as typeof RTCPeerConnection;
  });
}

/** The newest peer connection's state, or "none". */
export function connectionState(page: Page): Promise<string> {
  return page.evaluate(() => {
    const made = (globalThis as unknown as { __peerConnections: RTCPeerConnection[] })
      .__peerConnections;
    return made.at(-1)?.connectionState ?? "none";
  });
}

/** Bytes of audio and video the newest peer connection received so far (`inbound-rtp`). */
export function received(page: Page): Promise<Received> {
  return page.evaluate(async () => {
    const made = (globalThis as unknown as { __peerConnections: RTCPeerConnection[] })
      .__peerConnections;
    const out = { audio: 0, video: 0 };
    const pc = made.at(-1);
    if (!pc || pc.signalingState === "closed") return out;
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && (s.kind === "audio" || s.kind === "video")) {
        out[s.kind as "audio" | "video"] += s.bytesReceived ?? 0;
      }
    });
    return out;
  });
}

/** Polls `check` on the page until it holds (up to 20 s: media takes a moment to flow). */
export async function until<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 20_000;
  let value = await read();
  while (!check(value)) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

/** The call panel, in a phase when given. */
export function panel(user: PageUser, phase?: string) {
  return user.page.locator(phase ? `.call-panel[data-phase="${phase}"]` : ".call-panel");
}

/** Starts a call to the open conversation's person. */
export async function startCall(user: PageUser, media: "audio" | "video" = "video") {
  await user.page.click(`.call-buttons button[data-media="${media}"]`);
}
