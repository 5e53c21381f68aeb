/** Frames as a JSON-mode test client speaks them, for the sync, room and receipt tests. */
import type { MessageEvent } from "../lib/protocol/types.ts";
import { PASSWORD, type SecureSocket, type TestServer } from "./helpers.ts";

export type Frame = { type: string; [field: string]: unknown };

/** A JSON-mode socket that speaks in frames. */
export class Peer {
  constructor(readonly sock: SecureSocket) {}

  static async signIn(
    server: TestServer,
    name: string,
    options: { device?: string; register?: boolean } = {},
  ): Promise<{ peer: Peer; welcome: Frame }> {
    const peer = new Peer(await server.secure());
    await peer.send({
      type: options.register ? "register" : "login",
      name,
      password: PASSWORD,
      ...(options.device ? { device: options.device } : {}),
    });
    const welcome = await peer.next("welcome");
    return { peer, welcome };
  }

  send(frame: Frame): Promise<void> {
    return this.sock.write(JSON.stringify(frame));
  }

  /** The next frame of `type` (and matching `where`); the frames before it are dropped. */
  async next(
    type: string,
    where: (f: Frame) => boolean = () => true,
    timeoutMs?: number,
  ): Promise<Frame> {
    while (true) {
      const line = await this.sock.waitFor(`"type":"${type}"`, timeoutMs);
      const frame = JSON.parse(line) as Frame;
      if (frame.type === type && where(frame)) return frame;
    }
  }

  /** Frames of `type` up to and including the first `until` frame. */
  async collect(type: string, until: string): Promise<{ items: Frame[]; end: Frame }> {
    const items: Frame[] = [];
    while (true) {
      const line = await this.sock.waitFor(/"type":"/);
      const frame = JSON.parse(line) as Frame;
      if (frame.type === type) items.push(frame);
      if (frame.type === until) return { items, end: frame };
    }
  }

  /** Reads a device's whole catch-up, acknowledging each page; returns its messages. */
  async catchUp(): Promise<MessageEvent[]> {
    const all: MessageEvent[] = [];
    while (true) {
      const { items, end } = await this.collect("message", "synced");
      all.push(...(items as unknown as MessageEvent[]));
      await this.send({ type: "ack", upTo: end.seq });
      await this.next("acked");
      if (!end.more) return all;
    }
  }

  close(): Promise<void> {
    return this.sock.closeAndWait();
  }
}
