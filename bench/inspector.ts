/**
 * A minimal Chrome DevTools Protocol client for the servers under test (started with
 * `--inspect=127.0.0.1:0`): the idle scenario asks both Parley and the baseline for a full
 * garbage collection and their heap usage before it reads their memory, so that neither is
 * measured holding its own sign-in storm's garbage (V8 collects it on its own only after a quiet
 * while, at a moment that differs from run to run).
 */

/** The inspector's address as the runtime prints it on stderr. */
export const INSPECTOR_LINE = /Debugger listening on (ws:\/\/\S+)/;

export class Inspector {
  #socket: WebSocket;
  #next = 1;
  #waiting = new Map<number, PromiseWithResolvers<unknown>>();
  /** Where a heap snapshot being taken goes, chunk by chunk (`--heap-snapshot`). */
  #chunks: string[] | undefined;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (e) => {
      const msg = JSON.parse(e.data as string) as {
        id?: number;
        method?: string;
        params?: { chunk?: string };
        result?: unknown;
        error?: unknown;
      };
      if (msg.method === "HeapProfiler.addHeapSnapshotChunk") {
        this.#chunks?.push(msg.params!.chunk!);
      }
      if (msg.id === undefined) return; // other events: not asked for
      const w = this.#waiting.get(msg.id);
      this.#waiting.delete(msg.id);
      if (msg.error) w?.reject(new Error(JSON.stringify(msg.error)));
      else w?.resolve(msg.result);
    };
    socket.onclose = () => {
      for (const w of this.#waiting.values()) w.reject(new Error("inspector closed"));
      this.#waiting.clear();
    };
  }

  static async connect(url: string): Promise<Inspector> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`cannot reach the inspector at ${url}`));
    });
    return new Inspector(socket);
  }

  call<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    const w = Promise.withResolvers<unknown>();
    this.#waiting.set(id, w);
    this.#socket.send(JSON.stringify({ id, method, params }));
    return w.promise as Promise<T>;
  }

  /** Two full collections (the second frees what the first's finalizers let go). */
  async collectGarbage(): Promise<void> {
    await this.call("HeapProfiler.enable");
    await this.call("HeapProfiler.collectGarbage");
    await this.call("HeapProfiler.collectGarbage");
  }

  /** The JS heap's used and total bytes. */
  heapUsage(): Promise<{ usedSize: number; totalSize: number }> {
    return this.call("Runtime.getHeapUsage");
  }

  /** Writes a heap snapshot to `path` (open it in Chrome DevTools' Memory tab). */
  async writeHeapSnapshot(path: string): Promise<void> {
    this.#chunks = [];
    try {
      await this.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      await Deno.writeTextFile(path, this.#chunks.join(""));
    } finally {
      this.#chunks = undefined;
    }
  }

  close(): void {
    try {
      this.#socket.close();
    } catch { /* closed already */ }
  }
}
