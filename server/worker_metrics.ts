/**
 * `/metrics` for the whole process under `--workers N`: the worker a scrape reaches asks the
 * others for their figures over a BroadcastChannel of the process and answers with all of them,
 * each sample labelled `worker="<id>"`, so a Prometheus scrape sees every worker, not whichever
 * one the kernel picked. A worker that does not answer in time (restarting) is left out, and
 * `parley_workers{state="answered"}` says so.
 */
import { mergeExpositions } from "../lib/metrics/merge.ts";
import type { WorkerPlace } from "./worker_link.ts";

/** How long a scrape waits for the other workers' figures. */
export const METRICS_WAIT_MS = 1000;

type Message =
  | { type: "ask"; id: string }
  | { type: "answer"; id: string; worker: number; text: string };

export interface WorkerMetrics {
  /** Every worker's figures, merged. */
  all(): Promise<string>;
  /** Stops answering the others. */
  close(): void;
}

/** Joins the process's metrics channel: answers the other workers' asks and asks them. */
export function shareMetrics(options: {
  /** The process's channel prefix (the bus channel's name). */
  channel: string;
  place: WorkerPlace;
  /** This worker's own figures. */
  render: () => string;
  waitMs?: number;
}): WorkerMetrics {
  const { place, render } = options;
  const channel = new BroadcastChannel(`${options.channel}:metrics`);
  const waiting = new Map<string, (worker: number, text: string) => void>();
  channel.onmessage = ({ data }: MessageEvent<Message>) => {
    if (data.type === "ask") {
      channel.postMessage({ type: "answer", id: data.id, worker: place.id, text: render() });
    } else waiting.get(data.id)?.(data.worker, data.text);
  };
  return {
    all() {
      const id = crypto.randomUUID();
      const texts = new Map<number, string>([[place.id, render()]]);
      const done = Promise.withResolvers<void>();
      waiting.set(id, (worker, text) => {
        texts.set(worker, text);
        if (texts.size === place.of) done.resolve();
      });
      const timer = setTimeout(done.resolve, options.waitMs ?? METRICS_WAIT_MS);
      if (place.of > 1) channel.postMessage({ type: "ask", id } satisfies Message);
      else done.resolve();
      return done.promise.then(() => {
        clearTimeout(timer);
        waiting.delete(id);
        const parts = [...texts].sort(([a], [b]) => a - b).map(([worker, text]) => ({
          labels: { worker: String(worker) },
          text,
        }));
        const workers = [
          "# HELP parley_workers Workers of this process: configured, and answering this scrape.",
          "# TYPE parley_workers gauge",
          `parley_workers{state="configured"} ${place.of}`,
          `parley_workers{state="answered"} ${texts.size}`,
        ].join("\n");
        return mergeExpositions([...parts, { labels: {}, text: workers }]);
      });
    },
    close() {
      for (const id of waiting.keys()) waiting.delete(id);
      channel.close();
    },
  };
}
