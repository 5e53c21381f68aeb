/**
 * A FrameChannel over the browser's WebSocket: one JSON frame per text message. Frames that
 * arrive before the client starts listening are kept, not lost.
 */
import type { FrameChannel } from "./client.ts";

export class WsChannel implements FrameChannel {
  #socket: WebSocket;
  #early: string[] = [];
  #onFrame: ((frame: string) => void) | undefined;
  #onClose: ((reason: string) => void) | undefined;
  #closedReason: string | undefined;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (e) => {
      if (typeof e.data !== "string") return;
      if (this.#onFrame) this.#onFrame(e.data);
      else this.#early.push(e.data);
    };
    socket.onclose = (e) => this.#ended(e.reason || `connection closed (${e.code})`);
  }

  /** Opens a WebSocket to `url`; rejects when it cannot connect. */
  static open(url: string): Promise<WsChannel> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.onopen = () => resolve(new WsChannel(socket));
      socket.onerror = () => reject(new Error("cannot reach the server"));
      socket.onclose = () => reject(new Error("cannot reach the server"));
    });
  }

  send(frame: string): void {
    if (this.#socket.readyState !== WebSocket.OPEN) throw new Error("channel closed");
    this.#socket.send(frame);
  }

  start(onFrame: (frame: string) => void, onClose: (reason: string) => void): void {
    this.#onFrame = onFrame;
    this.#onClose = onClose;
    for (const frame of this.#early.splice(0)) onFrame(frame);
    if (this.#closedReason !== undefined) onClose(this.#closedReason);
  }

  close(): void {
    if (this.#socket.readyState <= WebSocket.OPEN) this.#socket.close(1000, "bye");
  }

  #ended(reason: string): void {
    if (this.#closedReason !== undefined) return;
    this.#closedReason = reason;
    this.#onClose?.(reason);
  }
}
