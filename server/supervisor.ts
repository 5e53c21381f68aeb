/**
 * The main thread's side of `--workers N`: starts N Deno workers, each a whole server (router,
 * store connection, listeners) on the same ports with SO_REUSEPORT, so the kernel spreads new
 * connections across them and every core serves. Workers rather than child processes: the
 * operator runs and stops one process, whose main thread alone holds the data directory's lock
 * and sees the signals; the workers inherit its permissions and flags, and the main thread relays
 * their bus (lib/bus/relay_bus.ts) without any service or socket of its own.
 *
 * A worker that dies (an uncaught error) is started again on the same ports, after a wait that
 * doubles while restarts keep failing; its clients lost their connection and reconnect, to
 * whichever worker the kernel picks, and catch up from the store.
 */
import type { Logger } from "../lib/log.ts";
import { RelayHub } from "../lib/bus/relay_bus.ts";
import { newNodeId } from "../lib/bus/mod.ts";
import { type FromWorker, type ToWorker, workerName } from "./worker_link.ts";

/** The first wait before a restart, and the longest. */
export const RESTART_BACKOFF_MS = { first: 250, max: 10_000 };
/** A worker that ran this long counts as healthy: its next crash restarts it at once again. */
const HEALTHY_AFTER_MS = 30_000;

export interface SupervisorOptions {
  /** How many workers. */
  count: number;
  /** The worker's module (main.ts, which takes the worker's path from its name). */
  module: URL;
  /** The ports the flags ask for; 0 lets the first worker pick, the others then share it. */
  tcpPort: number;
  httpPort: number;
  logger: Logger;
}

/** What the first worker reported once it listened: where the server is. */
export type Listening = Extract<FromWorker, { type: "listening" }>;

/** A worker could not start; the lines say why. */
export class WorkerStartFailure extends Error {
  constructor(readonly lines: string[], readonly exitCode: number) {
    super(lines.join("\n"));
  }
}

interface Slot {
  id: number;
  worker?: Worker;
  /** The current worker's node id on the bus. */
  node?: string;
  /** performance.now() of the current worker's start. */
  startedAt: number;
  /** The wait before the next restart, while restarts keep failing. */
  backoff: number;
  stopped?: PromiseWithResolvers<void>;
  timer?: ReturnType<typeof setTimeout>;
}

/** Runs and restarts the workers; one per server process. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #slots: Slot[];
  #ports?: { tcpPort: number; httpPort: number };
  /** The workers' bus: a channel of this server's own. */
  readonly #channel = `parley-workers-${crypto.randomUUID()}`;
  /** The workers' bus: what one publishes, the others get (lib/bus/relay_bus.ts). */
  readonly #hub = new RelayHub();

  #stopping = false;
  /** Restarts so far, for the log and the tests. */
  restarts = 0;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#slots = Array.from({ length: options.count }, (_, i) => ({
      id: i + 1,
      startedAt: 0,
      backoff: 0,
    }));
  }

  /**
   * Starts the first worker where the flags say, then the others on the ports it got. Resolves
   * once all listen, with what the first one reported.
   * @throws {WorkerStartFailure} when one cannot start (a taken port, a bad store...): the
   *   others started are stopped first.
   */
  async start(): Promise<Listening> {
    const { tcpPort, httpPort } = this.#options;
    const first = await this.#launch(this.#slots[0], { tcpPort, httpPort }).catch(async (err) => {
      await this.stop();
      throw err;
    });
    // With no built assets the HTTP listener is off; its port is then never used.
    this.#ports = { tcpPort: first.tcp.port, httpPort: first.httpPort ?? httpPort };
    try {
      await Promise.all(this.#slots.slice(1).map((slot) => this.#launch(slot, this.#ports!)));
    } catch (err) {
      await this.stop();
      throw err;
    }
    return first;
  }

  /**
   * Asks every worker to stop gracefully (each says goodbye to its clients and closes its store)
   * and waits for all of them; then ends them.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#slots.map(async (slot) => {
      clearTimeout(slot.timer);
      const worker = slot.worker;
      if (!worker) return;
      slot.stopped ??= Promise.withResolvers();
      post(worker, { type: "stop" });
      await slot.stopped.promise;
      this.#end(worker);
      slot.worker = undefined;
    }));
  }

  /** Test hook: makes worker `id` die of an uncaught error. */
  crash(id: number): void {
    const worker = this.#slots[id - 1]?.worker;
    if (worker) post(worker, { type: "crash" });
  }

  /** Starts a worker in `slot` and waits until it listens (or says why it cannot). */
  #launch(slot: Slot, ports: { tcpPort: number; httpPort: number }): Promise<Listening> {
    const { logger, count } = this.#options;
    const worker = new Worker(this.#options.module, {
      type: "module",
      name: workerName({ id: slot.id, of: count }),
    });
    slot.worker = worker;
    this.#hub.attach(worker);
    slot.node = `w${slot.id}-${newNodeId()}`;
    slot.startedAt = performance.now();
    slot.stopped = undefined;
    const listening = Promise.withResolvers<Listening>();
    let up = false;
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
      if (data.type === "listening") {
        up = true;
        listening.resolve(data);
      } else if (data.type === "failed") {
        listening.reject(new WorkerStartFailure(data.lines, data.exitCode));
        this.#end(worker);
        if (slot.worker === worker) slot.worker = undefined;
        // A stop asked meanwhile has nothing left to wait for.
        slot.stopped?.resolve();
      } else if (data.type === "stopped") {
        slot.stopped?.resolve();
      }
    };
    worker.onerror = (event) => {
      // Handled here: unhandled, a worker's error would end the whole process.
      event.preventDefault();
      this.#end(worker);
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      // A worker asked to stop is done, however it ended.
      slot.stopped?.resolve();
      if (!up) {
        listening.reject(
          new WorkerStartFailure([`worker ${slot.id} failed to start: ${event.message}`], 1),
        );
        return;
      }
      logger.error(`worker ${slot.id} of ${count} crashed; its clients reconnect`, {
        error: event.message,
      });
      this.#sayByeFor(slot.node!);
      this.#restartLater(slot);
    };
    post(worker, { type: "start", ...ports, bus: { channel: this.#channel, node: slot.node } });
    return listening.promise;
  }

  /**
   * Tells the other workers that `node` is gone, as it would have said itself on a clean stop:
   * they take its users offline at once, not after the missed heartbeats.
   */
  #sayByeFor(node: string): void {
    this.#hub.publishAs(node, { kind: "bye" });
  }

  /** Ends a worker, and its place on the bus. */
  #end(worker: Worker): void {
    this.#hub.detach(worker);
    worker.terminate();
  }

  /** Restarts `slot` after its backoff; a failed restart tries again after twice as long. */
  #restartLater(slot: Slot): void {
    if (this.#stopping || !this.#ports) return;
    const ranLong = performance.now() - slot.startedAt >= HEALTHY_AFTER_MS;
    const wait = ranLong || slot.backoff === 0
      ? RESTART_BACKOFF_MS.first
      : Math.min(slot.backoff * 2, RESTART_BACKOFF_MS.max);
    slot.backoff = wait;
    const { logger, count } = this.#options;
    logger.info(`restarting worker ${slot.id} of ${count} in ${wait} ms`);
    slot.timer = setTimeout(() => {
      if (this.#stopping) return;
      this.restarts++;
      this.#launch(slot, this.#ports!).then(
        () => logger.info(`worker ${slot.id} of ${count} restarted`),
        (err) => {
          logger.error(`worker ${slot.id} of ${count} could not restart`, { error: err });
          this.#restartLater(slot);
        },
      );
    }, wait);
  }
}

function post(worker: Worker, message: ToWorker): void {
  worker.postMessage(message);
}
