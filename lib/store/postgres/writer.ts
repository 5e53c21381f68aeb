/**
 * Group commit on PostgreSQL, as `SqliteStore` does it: each write is queued in call order (its
 * input sealed meanwhile), and a flush runs everything queued and ready in one transaction,
 * each write in its own savepoint (one failing rolls back only itself), then settles each
 * call's promise only after COMMIT returned: acknowledged means committed. One flush runs at a
 * time per node; calls made meanwhile go into the next one, so under load one commit (one WAL
 * flush) covers many writes.
 *
 * Every write transaction first takes the advisory lock {@linkcode WRITE_LOCK}: one writer at a
 * time across all nodes, so the log's `seq` is taken and committed in order (docs/storage.md,
 * "Seq order across nodes") and every check-then-write of the SQLite code stays as correct here.
 */
import type postgres from "postgres";
import { ParleyError } from "../../errors.ts";
import { isUnreachable, storageError } from "./errors.ts";
import { LOCK_NAMESPACE, WRITE_LOCK } from "./schema.ts";

/** A transaction (or savepoint) to run statements in. */
export type Tx = postgres.TransactionSql;

/**
 * The most work one transaction takes, in writes plus acknowledged ids (a single call larger
 * than this still goes, alone), so the write lock is never held for long.
 */
const MAX_BATCH_WEIGHT = 1000;

interface QueuedWrite {
  ready: boolean;
  failed?: { error: unknown };
  weight: number;
  run: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** The queue of writes of one store, and the flush that commits them. */
export class GroupWriter {
  readonly #sql: postgres.Sql;
  #writes: QueuedWrite[] = [];
  #flushing = false;
  #drained?: PromiseWithResolvers<void>;

  constructor(sql: postgres.Sql) {
    this.#sql = sql;
  }

  /**
   * Queues `run` for the next group commit once `prepared` settles (when it rejects, the call
   * rejects with that, without running). Settles after the COMMIT of the transaction that ran
   * it, with what `run` returned.
   */
  enqueue<T>(weight: number, prepared: Promise<void>, run: (tx: Tx) => Promise<T>): Promise<T> {
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const write: QueuedWrite = {
      ready: false,
      weight,
      run,
      resolve: resolve as (value: unknown) => void,
      reject,
    };
    this.#writes.push(write);
    const settled = () => {
      write.ready = true;
      this.#kick();
    };
    prepared.then(settled, (error) => {
      write.failed = { error };
      settled();
    });
    return promise;
  }

  /** Settles once no write is queued or running. */
  idle(): Promise<void> {
    if (this.#writes.length === 0 && !this.#flushing) return Promise.resolve();
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  #kick() {
    if (this.#flushing || !this.#writes[0]?.ready) return;
    this.#flushing = true;
    // After the current task's other continuations: what became ready with it joins the batch.
    queueMicrotask(() => void this.#flush());
  }

  async #flush() {
    let count = 0;
    let weight = 0;
    for (const w of this.#writes) {
      if (!w.ready || (count > 0 && weight + w.weight > MAX_BATCH_WEIGHT)) break;
      count++;
      weight += w.weight;
    }
    try {
      if (count > 0) await this.#commit(this.#writes.splice(0, count));
    } finally {
      this.#flushing = false;
      if (this.#writes[0]?.ready) this.#kick();
      else if (this.#writes.length === 0 && this.#drained) {
        this.#drained.resolve();
        this.#drained = undefined;
      }
    }
  }

  async #commit(batch: QueuedWrite[]) {
    const outcomes: ({ value: unknown } | { error: unknown })[] = batch.map((w) =>
      w.failed ?? { value: undefined }
    );
    if (batch.some((w) => !w.failed)) {
      try {
        await this.#sql.begin(async (tx) => {
          await tx`SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${WRITE_LOCK})`;
          for (const [i, w] of batch.entries()) {
            if (w.failed) continue;
            try {
              outcomes[i] = { value: await tx.savepoint((s) => w.run(s)) };
            } catch (error) {
              // The connection is gone: the whole transaction is, with everything in it.
              if (isUnreachable(error)) throw error;
              outcomes[i] = { error };
            }
          }
        });
      } catch (error) {
        // Nothing of the batch was committed (or, if the connection died during COMMIT, maybe
        // all of it: a client resends with the same cid, which finds the first outcome).
        batch.forEach((w, i) => outcomes[i] = w.failed ?? { error });
      }
    }
    batch.forEach((w, i) => {
      const outcome = outcomes[i];
      if ("error" in outcome) w.reject(storageError(outcome.error));
      else w.resolve(outcome.value);
    });
  }
}

/** The error of a call made after `close()`. */
export function closedError(): ParleyError {
  return new ParleyError("internal", "The store is closed.");
}
