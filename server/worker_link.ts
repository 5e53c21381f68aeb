/**
 * What the main thread and its workers say to each other (`--workers N`). The main thread holds
 * the data directory and supervises; each worker is a whole server on the shared ports: its own
 * router, store connection and listeners. A worker learns its place from its name, and its ports
 * from the `start` message: the first worker listens where the flags say (port 0 picks one), the
 * others, and every restarted worker, on the ports the first one got.
 */

/** Main thread to worker. */
export type ToWorker =
  | { type: "start"; tcpPort: number; httpPort: number; bus: WorkerBus }
  | { type: "stop" }
  /** Test hook (PARLEY_TEST_HOOKS=1): die of an uncaught error, as a crash would. */
  | { type: "crash" };

/** The in-machine bus a worker joins: the process's channel, and its node id on it. */
export interface WorkerBus {
  channel: string;
  /** New for each start of a worker, so the others never take a restarted one for its past. */
  node: string;
}

/** Worker to main thread. */
export type FromWorker =
  | {
    type: "listening";
    tcp: { hostname: string; port: number };
    /** The browser client's URL; absent without built assets. */
    httpUrl?: string;
    httpPort?: number;
    /** The translation provider in use, or "off", for the start-up lines. */
    translation: string;
    /** The bus it joined, as the start-up log says it. */
    bus: string;
  }
  /** Could not start: the lines say why, as a single server would print them. */
  | { type: "failed"; lines: string[]; exitCode: number }
  /** Every client got its goodbye and the worker's store is closed. */
  | { type: "stopped" };

/** Which worker this thread is: `id` from 1 to `of`. */
export interface WorkerPlace {
  id: number;
  of: number;
}

const NAME = /^parley-worker-(\d+)-of-(\d+)$/;

/** The name a worker is started with, which tells it its place. */
export function workerName(place: WorkerPlace): string {
  return `parley-worker-${place.id}-of-${place.of}`;
}

/** This thread's place, when it is one of the workers; undefined on the main thread. */
export function workerPlace(): WorkerPlace | undefined {
  const name = (globalThis as { name?: unknown }).name;
  if (typeof name !== "string" || !("WorkerGlobalScope" in globalThis)) return undefined;
  const m = name.match(NAME);
  return m ? { id: Number(m[1]), of: Number(m[2]) } : undefined;
}

/** The worker's side of the link to the main thread. */
export interface WorkerLink {
  /** The ports to listen on and the bus to join, once the main thread says start. */
  readonly started: Promise<{ tcpPort: number; httpPort: number; bus: WorkerBus }>;
  /** Resolves when the main thread asks for a graceful stop. */
  readonly stopRequested: Promise<void>;
  send(message: FromWorker): void;
}

/** Listens to the main thread; call once, in a worker. */
export function linkToMain(): WorkerLink {
  const scope = globalThis as unknown as {
    postMessage(message: FromWorker): void;
    onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  };
  const started = Promise.withResolvers<{ tcpPort: number; httpPort: number; bus: WorkerBus }>();
  const stop = Promise.withResolvers<void>();
  scope.onmessage = ({ data }) => {
    if (data.type === "start") {
      started.resolve({ tcpPort: data.tcpPort, httpPort: data.httpPort, bus: data.bus });
    } else if (data.type === "stop") stop.resolve();
    else if (data.type === "crash") {
      // Thrown from a timer, outside any promise: the worker dies as a real bug would kill it.
      setTimeout(() => {
        throw new Error("crash requested by the test hook");
      });
    }
  };
  return {
    started: started.promise,
    stopRequested: stop.promise,
    send: (message) => scope.postMessage(message),
  };
}
