/**
 * One-to-one calls in the browser (docs/calls.md): the camera and microphone, the
 * RTCPeerConnection, and the call frames it exchanges with the server inside the encrypted
 * session. The caller sends the offer once the callee accepted; candidates trickle both ways.
 * What the window shows is the `call` signal.
 */
import { signal } from "@preact/signals";
import { ServerError } from "../lib/client/client.ts";
import type { ReconnectingClient } from "../lib/client/reconnect.ts";
import type {
  CallEndReason,
  CallMedia,
  IceCandidate,
  IceServer,
  ServerEvent,
} from "../lib/protocol/types.ts";

/** Where a call is, as the window shows it. */
export type CallPhase =
  | "starting" // asking for the camera and microphone, then ringing
  | "ringing" // outgoing: the other side rings
  | "incoming" // someone rings this tab
  | "connecting" // answered; media connecting
  | "connected"
  | "ended";

export interface CallView {
  /** The server's call id (none while the ring is on its way). */
  id?: string;
  peer: string;
  media: CallMedia;
  direction: "in" | "out";
  phase: CallPhase;
  /** Why it ended, in words; or what went wrong. */
  message?: string;
  muted: boolean;
  cameraOff: boolean;
  /** When it was answered (ms since the epoch), for the duration. */
  answeredAt?: number;
  local?: MediaStream;
  remote?: MediaStream;
}

/** How long an ended call stays on screen before the panel closes by itself. */
const ENDED_SHOWN_MS = 5000;

/** The call frames' events. */
type CallEvent = Extract<
  ServerEvent,
  { type: "calls" | "call" | "call_offer" | "call_answer" | "call_ice" }
>;

export class CallController {
  readonly call = signal<CallView | undefined>(undefined);
  /** Whether the server takes calls from this tab (its answer to `calls`). */
  readonly available = signal(false);
  /** Told when a call starts ringing in this tab (to notify a tab in the background). */
  onRing: ((peer: string, media: CallMedia) => void) | undefined;
  #client: ReconnectingClient | undefined;
  #iceServers: IceServer[] = [];
  #pc: RTCPeerConnection | undefined;
  #local: MediaStream | undefined;
  /** Candidates that came before the remote description. */
  #pendingIce: IceCandidate[] = [];
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Counts the calls shown, so an answer about an earlier one is known as such. */
  #shown = 0;
  /** The caller's camera and microphone, asked for while the call rings. */
  #mediaReady: Promise<MediaStream | undefined> = Promise.resolve(undefined);
  /** The cids of this call's offer, answer and candidates: a refusal of one ends the call. */
  readonly #signalCids = new Set<string>();
  #signalCount = 0;

  /** A signed-in connection: tells the server this tab takes calls. */
  online(client: ReconnectingClient): void {
    this.#client = client;
    client.call({ type: "calls", on: true }, "calls").then(
      (answer) => {
        this.#iceServers = answer.iceServers;
        this.available.value = true;
      },
      () => this.available.value = false,
    );
  }

  /** The connection dropped: the server ended any call of this tab with it. */
  offline(): void {
    this.available.value = false;
    const c = this.call.value;
    if (c && c.phase !== "ended") this.#finish("The connection to the server was lost.");
  }

  /** Files an event of a call; false when it is not one. */
  handle(e: ServerEvent): boolean {
    if (e.type === "error" && e.cid !== undefined && this.#signalCids.delete(e.cid)) {
      this.#refused(e.message);
      return true;
    }
    if (!isCallEvent(e)) return false;
    switch (e.type) {
      case "calls":
        break;
      case "call":
        this.#onCall(e);
        break;
      case "call_offer":
        if (e.call === this.call.value?.id) void this.#onOffer(e.sdp);
        break;
      case "call_answer":
        if (e.call === this.call.value?.id) void this.#onAnswer(e.sdp);
        break;
      case "call_ice":
        if (e.call === this.call.value?.id) void this.#onIce(e.candidate);
        break;
    }
    return true;
  }

  /**
   * Calls `peer`: the ring first (so a call that cannot happen says so before the browser asks
   * for the camera), then the camera and microphone while it rings.
   */
  async start(peer: string, media: CallMedia): Promise<void> {
    const busy = this.call.value;
    if (busy && busy.phase !== "ended") return;
    this.#show({
      peer,
      media,
      direction: "out",
      phase: "starting",
      muted: false,
      cameraOff: false,
    });
    let id: string;
    try {
      const ringing = await this.#ask({ type: "call_ring", to: peer, media });
      // Busy at once: the answer is already `ended`.
      if (ringing.state === "ended") return this.#finish(endedWords(ringing.reason, "out", peer));
      id = ringing.call;
    } catch (err) {
      return this.#finish((err as Error).message);
    }
    if (this.call.value?.phase !== "starting") {
      // Cancelled while the ring was on its way.
      this.#client?.callSignal({ type: "call_hangup", call: id });
      return;
    }
    this.#patch({ id, phase: "ringing" });
    this.#mediaReady = this.#media(media).then(({ stream, problem }) => {
      if (problem !== undefined) {
        // Without a microphone there is no call: the other side stops ringing.
        this.#client?.callSignal({ type: "call_hangup", call: id });
        this.#finish(problem);
      }
      return stream;
    });
    await this.#mediaReady;
  }

  /** Takes the incoming call: the camera and microphone, then `call_accept`. */
  async accept(): Promise<void> {
    const c = this.call.value;
    if (!c?.id || c.phase !== "incoming") return;
    this.#patch({ phase: "connecting" });
    const { stream, problem } = await this.#media(c.media);
    if (problem !== undefined) {
      // Without a microphone there is no call to take: the caller is told it was declined.
      this.#client?.callSignal({ type: "call_decline", call: c.id });
      return this.#finish(problem);
    }
    // The caller gave up while the browser asked for the camera.
    if (!stream) return;
    try {
      this.#peer(c.id);
      await this.#ask({ type: "call_accept", call: c.id });
      this.#patch({ answeredAt: Date.now() });
    } catch (err) {
      this.#finish((err as Error).message);
    }
  }

  /** Turns the incoming call down. */
  decline(): void {
    const c = this.call.value;
    if (!c?.id || c.phase !== "incoming") return;
    this.#client?.callSignal({ type: "call_decline", call: c.id });
    this.#finish(undefined);
  }

  /** Cancels a call still ringing, or ends the call. */
  hangup(): void {
    const c = this.call.value;
    if (!c || c.phase === "ended") return this.dismiss();
    if (c.id) this.#client?.callSignal({ type: "call_hangup", call: c.id });
    this.#finish(
      c.phase === "ringing" || c.phase === "starting" ? "Call cancelled." : "Call ended.",
    );
  }

  /** Mutes the microphone, or unmutes it. */
  toggleMute(): void {
    const c = this.call.value;
    if (!c) return;
    for (const t of this.#local?.getAudioTracks() ?? []) t.enabled = c.muted;
    this.#patch({ muted: !c.muted });
  }

  /** Turns the camera off (the other side sees black), or on again. */
  toggleCamera(): void {
    const c = this.call.value;
    if (!c) return;
    for (const t of this.#local?.getVideoTracks() ?? []) t.enabled = c.cameraOff;
    this.#patch({ cameraOff: !c.cameraOff });
  }

  /** Closes the panel of an ended call. */
  dismiss(): void {
    clearTimeout(this.#closeTimer);
    if (this.call.value?.phase === "ended") this.call.value = undefined;
  }

  #onCall(e: Extract<ServerEvent, { type: "call" }>): void {
    const c = this.call.value;
    if (e.state === "incoming") {
      if (c && c.phase !== "ended") {
        // One call at a time in a tab (the server keeps that per user; this is a safeguard).
        this.#client?.callSignal({ type: "call_decline", call: e.call });
        return;
      }
      this.#show({
        id: e.call,
        peer: e.with,
        media: e.media,
        direction: "in",
        phase: "incoming",
        muted: false,
        cameraOff: false,
      });
      this.onRing?.(e.with, e.media);
      return;
    }
    if (!c || (c.id !== undefined && c.id !== e.call)) return;
    if (e.state === "accepted" && c.direction === "out") {
      this.#patch({ id: e.call, phase: "connecting", answeredAt: Date.now() });
      void this.#offer(e.call);
    } else if (e.state === "ended" && c.phase !== "ended") {
      this.#finish(endedWords(e.reason, c.direction, c.peer));
    }
  }

  /** The caller's side once answered: the offer, once the camera and microphone are on. */
  async #offer(id: string): Promise<void> {
    if (!await this.#mediaReady) return;
    if (this.call.value?.id !== id || this.call.value.phase === "ended") return;
    try {
      const pc = this.#peer(id);
      await pc.setLocalDescription(await pc.createOffer());
      this.#signal({ type: "call_offer", call: id, sdp: pc.localDescription!.sdp });
    } catch (err) {
      this.#fail(id, err);
    }
  }

  async #onOffer(sdp: string): Promise<void> {
    const pc = this.#pc;
    const id = this.call.value?.id;
    if (!pc || !id) return;
    try {
      await pc.setRemoteDescription({ type: "offer", sdp });
      await this.#flushIce();
      await pc.setLocalDescription(await pc.createAnswer());
      this.#signal({ type: "call_answer", call: id, sdp: pc.localDescription!.sdp });
    } catch (err) {
      this.#fail(id, err);
    }
  }

  async #onAnswer(sdp: string): Promise<void> {
    const pc = this.#pc;
    if (!pc) return;
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
      await this.#flushIce();
    } catch (err) {
      this.#fail(this.call.value?.id, err);
    }
  }

  async #onIce(candidate: IceCandidate): Promise<void> {
    const pc = this.#pc;
    if (!pc || !pc.remoteDescription) {
      this.#pendingIce.push(candidate);
      return;
    }
    // A candidate the browser cannot use is not worth ending the call over.
    await pc.addIceCandidate(candidate).catch(() => {});
  }

  async #flushIce(): Promise<void> {
    const pending = this.#pendingIce.splice(0);
    for (const c of pending) await this.#onIce(c);
  }

  /** The peer connection of call `id`, with the local tracks, made once. */
  #peer(id: string): RTCPeerConnection {
    if (this.#pc) return this.#pc;
    const pc = new RTCPeerConnection({ iceServers: this.#iceServers });
    this.#pc = pc;
    for (const track of this.#local?.getTracks() ?? []) pc.addTrack(track, this.#local!);
    pc.onicecandidate = (e) => {
      if (!e.candidate) return;
      const c = e.candidate.toJSON();
      this.#signal({
        type: "call_ice",
        call: id,
        candidate: {
          candidate: c.candidate ?? "",
          sdpMid: c.sdpMid ?? null,
          sdpMLineIndex: c.sdpMLineIndex ?? null,
        },
      });
    };
    pc.ontrack = (e) => {
      const remote = this.call.value?.remote ?? new MediaStream();
      if (!remote.getTracks().includes(e.track)) remote.addTrack(e.track);
      this.#patch({ remote });
    };
    pc.onconnectionstatechange = () => {
      if (this.#pc !== pc) return;
      if (pc.connectionState === "connected") this.#patch({ phase: "connected" });
      if (pc.connectionState === "failed") {
        this.#fail(id, new Error("no network path between the two browsers"));
      }
    };
    return pc;
  }

  /**
   * The camera and microphone for `media`, or what keeps the browser from giving them, in words.
   * Neither when the call ended while the browser asked (what it gave is stopped again).
   */
  async #media(media: CallMedia): Promise<{ stream?: MediaStream; problem?: string }> {
    if (!navigator.mediaDevices?.getUserMedia) {
      return { problem: "Calls need a secure page: open Parley over HTTPS (or on localhost)." };
    }
    const shown = this.#shown;
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: media === "video" });
    } catch (err) {
      const name = (err as DOMException).name;
      if (media === "video" && (name === "NotFoundError" || name === "OverconstrainedError")) {
        // No camera: the call goes on with the voice, and says so.
        const voice = await this.#media("audio");
        if (voice.stream) this.#patch({ message: "No camera found: you are heard, not seen." });
        return voice;
      }
      return { problem: mediaProblem(name) };
    }
    if (shown !== this.#shown || this.call.value?.phase === "ended") {
      for (const t of stream.getTracks()) t.stop();
      return {};
    }
    this.#local = stream;
    this.#patch({ local: stream });
    return { stream };
  }

  /**
   * Sends an offer, answer or candidate with a cid of its own: the server answers none of them
   * unless it refuses one (a description over its limit), and then the call cannot go on.
   */
  #signal(frame: { type: "call_offer" | "call_answer" | "call_ice"; [field: string]: unknown }) {
    const cid = `call-signal-${++this.#signalCount}`;
    this.#signalCids.add(cid);
    this.#client?.callSignal({ ...frame, cid });
  }

  /** The server refused this call's offer, answer or a candidate: the call ends, saying why. */
  #refused(message: string): void {
    const c = this.call.value;
    if (!c || c.phase === "ended") return;
    this.#fail(c.id, new Error(message.replace(/^[a-z_]+: /, "")));
  }

  /** Something broke on this side: the other side is told the call ended. */
  #fail(id: string | undefined, err: unknown): void {
    if (id) this.#client?.callSignal({ type: "call_hangup", call: id });
    this.#finish(`The call failed: ${(err as Error).message}`);
  }

  async #ask(frame: { type: "call_ring" | "call_accept"; [field: string]: unknown }) {
    const client = this.#client;
    if (!client) throw new Error("Not connected. Try again when the connection is back.");
    try {
      return await client.call(frame, "call");
    } catch (err) {
      throw new Error(
        err instanceof ServerError ? err.message.replace(/^[a-z_]+: /, "") : "Not connected.",
      );
    }
  }

  #show(view: CallView): void {
    clearTimeout(this.#closeTimer);
    this.#shown++;
    this.call.value = view;
  }

  #patch(changes: Partial<CallView>): void {
    const c = this.call.value;
    if (c) this.call.value = { ...c, ...changes };
  }

  /** Ends the call on this side: media off, connection closed, the reason shown a while. */
  #finish(message: string | undefined): void {
    this.#pc?.close();
    this.#pc = undefined;
    this.#pendingIce = [];
    this.#signalCids.clear();
    this.#stopMedia();
    const c = this.call.value;
    if (!c) return;
    if (message === undefined) {
      this.call.value = undefined;
      return;
    }
    this.call.value = { ...c, phase: "ended", message, local: undefined, remote: undefined };
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.dismiss(), ENDED_SHOWN_MS);
  }

  #stopMedia(): void {
    for (const t of this.#local?.getTracks() ?? []) t.stop();
    this.#local = undefined;
  }
}

function isCallEvent(e: ServerEvent): e is CallEvent {
  return e.type === "calls" || e.type === "call" || e.type === "call_offer" ||
    e.type === "call_answer" || e.type === "call_ice";
}

/** Why a call ended, in the words of the side that reads it. */
export function endedWords(
  reason: CallEndReason | undefined,
  direction: "in" | "out",
  peer: string,
): string {
  switch (reason) {
    case "declined":
      return direction === "out" ? `${peer} declined the call.` : "You declined the call.";
    case "cancelled":
      return direction === "out" ? "Call cancelled." : `Missed call: ${peer} hung up.`;
    case "timeout":
      return direction === "out" ? `${peer} did not answer.` : `Missed call from ${peer}.`;
    case "busy":
      return `${peer} is in another call. Try again later.`;
    case "hangup":
      return "Call ended.";
    case "disconnected":
      return `The call ended: ${peer}'s connection was lost.`;
    case "answered_elsewhere":
      return "You answered on another device.";
    case "unreachable":
      return `${peer} could not be reached.`;
    default:
      return "Call ended.";
  }
}

/** What to do about a camera or microphone the browser would not give. */
export function mediaProblem(name: string): string {
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Parley may not use your microphone or camera. Allow them for this site (the " +
        "icon left of the address) and call again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone found. Connect one (or check the system's sound settings) and " +
        "call again.";
    case "NotReadableError":
    case "AbortError":
      return "Your microphone or camera is in use by another program, or failed. Close that " +
        "program and call again.";
    default:
      return `The browser could not start the microphone or camera (${name}).`;
  }
}
