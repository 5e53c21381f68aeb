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

  /**
   * The server's own account of its memory, in KiB, after a `malloc_trim`: `Deno.memoryUsage()`
   * and glibc's `mallinfo2` (all arenas: bytes in use and free). With `mallocInfoPath`, also
   * glibc's `malloc_info` there (XML, arena by arena: the main thread's and the other threads').
   * The server needs FFI access to libc (Parley and the baseline have it).
   */
  async memoryAccount(mallocInfoPath?: string): Promise<Record<string, number>> {
    const r = await this.call<{ result: { value: string }; exceptionDetails?: unknown }>(
      "Runtime.evaluate",
      { expression: MEMORY_PROBE(mallocInfoPath), returnByValue: true },
    );
    if (r.exceptionDetails) throw new Error(JSON.stringify(r.exceptionDetails));
    return JSON.parse(r.result.value);
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

/** Evaluated in the server (`memoryAccount`): a trim, then its figures in KiB. */
const MEMORY_PROBE = (mallocInfoPath?: string) =>
  `(() => {
  const libc = Deno.dlopen("/usr/lib/x86_64-linux-gnu/libc.so.6", {
    malloc_trim: { parameters: ["usize"], result: "i32" },
    mallinfo2: { parameters: [], result: { struct: ["usize","usize","usize","usize","usize","usize","usize","usize","usize","usize"] } },
    malloc_info: { parameters: ["i32", "pointer"], result: "i32" },
    fopen: { parameters: ["buffer", "buffer"], result: "pointer" },
    fclose: { parameters: ["pointer"], result: "i32" },
  });
  libc.symbols.malloc_trim(0);
  const infoPath = ${JSON.stringify(mallocInfoPath ?? "")};
  if (infoPath) {
    const cstr = (s) => new TextEncoder().encode(s + "\\0");
    const file = libc.symbols.fopen(cstr(infoPath), cstr("w"));
    if (file) {
      libc.symbols.malloc_info(0, file);
      libc.symbols.fclose(file);
    }
  }
  const mi = new BigUint64Array(libc.symbols.mallinfo2().buffer);
  libc.close();
  const m = Deno.memoryUsage();
  return JSON.stringify({
    heapUsed: m.heapUsed / 1024, heapTotal: m.heapTotal / 1024, external: m.external / 1024,
    mallocArena: Number(mi[0]) / 1024, mallocMmap: Number(mi[4]) / 1024,
    mallocUsed: Number(mi[7]) / 1024, mallocFree: Number(mi[8]) / 1024,
  });
})()`;
