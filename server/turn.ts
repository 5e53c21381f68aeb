/**
 * When connections seal and write, shared by every connection. A seal is an OpenSSL call of a
 * few µs where the server may load libcrypto (lib/crypto/_openssl.ts), else a WebCrypto call of
 * ~20 µs; either way a connection never has more than one in flight, and what it is sent
 * meanwhile goes together in the next: a group commit.
 *
 * - **Nothing in flight** (no seal on its way, the socket not busy): the frame is sealed at the
 *   end of the current job (`sealSoon`, one microtask for every connection), so that what one job
 *   sends a connection (an answer and an event, or a fan-out's frame) is still one seal, but
 *   nobody waits for a timer. A quiet server delivers as soon as it has sealed. With WebCrypto,
 *   only a connection whose last seal is older than a turn (`quietMs`: what a turn would wait,
 *   from the seals of the last 100 ms) seals at once: under a steady fan-out (every connection
 *   given a frame every few milliseconds) sealing each frame alone doubled the CPU per delivery,
 *   so such connections keep batching per turn. With OpenSSL a seal costs a tenth of that, and
 *   every connection with nothing in flight seals at once.
 * - **Something in flight, seals inline** (OpenSSL): frames wait only for what is in flight
 *   (`afterWrites`), as a group commit's next batch waits for the commit before it. A seal
 *   inline is done by the end of the job; a socket still writing (a WebSocket's
 *   `bufferedAmount > 0` until the event loop has run its write, ~0.1 ms) is checked again at
 *   the end of each following job (`setImmediate`, which lets the event loop poll its I/O
 *   first), and the frames go, as one seal, as soon as it has written. A timer here costs more
 *   than the wait it stands for: Deno's shortest timer is 1-2 ms, and a round that waited
 *   twice its own cost kept a message 10-80 ms behind a fan-out to 500-2,000 connections. A
 *   socket still busy after `MAX_WRITE_CHECKS` checks is a reader that is behind for real: its
 *   frames join the turn below, so that no connection is polled in a loop.
 * - **Something in flight, WebCrypto**, or a socket behind for real: frames wait for the end of
 *   a turn (`scheduleFlush`). Work that fans one message out to many connections runs as a chain
 *   of promise reactions; flushing on a timer lets that work finish first, so each connection
 *   seals and writes many frames at once. The wait adapts to the load: after a round that flushed
 *   few connections the next runs at the next timer tick (~1 ms); after a round that flushed
 *   many, it waits about twice what that round costs (estimated: ~10 µs a flush inline, ~40 µs
 *   with WebCrypto), up to `MAX_DELAY_MS`, so sealing never takes more than about half the CPU
 *   and a busy server trades a few milliseconds of latency for several frames per seal.
 *
 * Every flush, at once or from a round, goes through one queue, in order, in slices of `SLICE`
 * connections with the event loop running between them: a fan-out's first readers get their
 * bytes while the last ones' frames are still being sealed, and nothing waits long behind it.
 *
 * Frames nobody waits on (presence, heartbeats: lib/router/lazy_events.ts) have rounds of their
 * own that wait longer, so that a burst of them (everyone signing in after a restart: n sign-ins
 * tell n - 1 others each) costs each connection a seal or two a second rather than one per turn.
 * Their wait is about 200 µs per connection of the last lazy round, between `LAZY_MIN_MS` and
 * `LAZY_MAX_MS`: a round costs each connection ~30 µs of CPU (seal, encode, write), so lazy
 * rounds take at most about 15% of a core however many are online. Up to 5,000 connections that is
 * within a second; at 10,000, two. Any frame that is not lazy takes the lazy ones with it.
 */

import { setImmediate } from "node:timers";
import { openSslAead } from "../lib/crypto/_openssl.ts";

/** Milliseconds a round of `n` flushes is assumed to cost, times two (WebCrypto seals). */
const MS_PER_FLUSH = 0.08;
const MAX_DELAY_MS = 80;
const LAZY_MS_PER_FLUSH = 0.2;
const LAZY_MIN_MS = 100;
/**
 * The longest a lazy frame waits for company. The router is told (`Limits.lazyWaitMs`, whose
 * default is this) so that a heartbeat held here is not blamed on its reader.
 */
export const LAZY_MAX_WAIT_MS = 3000;
const LAZY_MAX_MS = LAZY_MAX_WAIT_MS;

/** Something with work to do at the end of a turn: a connection's sealer. */
export interface Flushable {
  flush(): void;
}

/**
 * Flushes gathered on one timer, whose wait depends on how many the last round had; at the timer
 * they join the queue of flushes (`sealSoon`), in slices like any other.
 */
class Rounds {
  #due = new Set<Flushable>();
  #scheduled = false;
  #lastRound = 0;
  #delay: (lastRound: number) => number;

  constructor(delay: (lastRound: number) => number) {
    this.#delay = delay;
  }

  add(target: Flushable): void {
    this.#due.add(target);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(this.#run, Math.floor(this.#delay(this.#lastRound)));
  }

  #run = (): void => {
    this.#scheduled = false;
    this.#lastRound = this.#due.size;
    for (const target of this.#due) sealSoon(target);
    this.#due.clear();
  };
}

/**
 * Whether this process seals inline (OpenSSL, lib/crypto/_openssl.ts): a round of n flushes then
 * costs about n seals and writes of ~10 µs each here, rather than n WebCrypto calls.
 */
const sealsInline = () => openSslAead() !== undefined;
/** Milliseconds a round of `n` inline flushes is assumed to cost, times two. */
const INLINE_MS_PER_FLUSH = 0.02;

const turns = new Rounds((n) =>
  Math.min(MAX_DELAY_MS, n * (sealsInline() ? INLINE_MS_PER_FLUSH : MS_PER_FLUSH))
);
const lazyTurns = new Rounds((n) =>
  Math.min(LAZY_MAX_MS, Math.max(LAZY_MIN_MS, n * LAZY_MS_PER_FLUSH))
);

/** Seals counted in the current window of `WINDOW_MS`, and in the one before. */
const WINDOW_MS = 100;
let windowStart = 0;
let windowSeals = 0;
let lastWindowSeals = 0;

/** For a sealer: a seal begins now (`performance.now()`), at once or in a round; for `quietMs`. */
export function sealBegins(now: number): void {
  if (now - windowStart >= WINDOW_MS) {
    lastWindowSeals = now - windowStart < 2 * WINDOW_MS ? windowSeals : 0;
    windowStart = now;
    windowSeals = 0;
  }
  windowSeals++;
}

/**
 * How long a connection must have sealed nothing to seal at once: what a turn would wait if the
 * seals of the last `WINDOW_MS` were one round (0.08 ms each, up to `MAX_DELAY_MS`).
 */
export function quietMs(): number {
  return Math.min(MAX_DELAY_MS, Math.max(windowSeals, lastWindowSeals) * MS_PER_FLUSH);
}

/** A sealer with frames that wait for its seal or its socket: see `afterWrites`. */
export interface WriteWaiter extends Flushable {
  /** A seal in flight, or the socket still writing what it was given. */
  readonly waiting: boolean;
}

/** How many job ends a socket may stay busy before its frames wait for a turn instead. */
const MAX_WRITE_CHECKS = 3;

/** Sealers waiting for their socket, with the checks each has had, and whether a check is due. */
let waiters = new Map<WriteWaiter, number>();
let waitersQueued = false;

function checkWaiters(): void {
  const due = waiters;
  waiters = new Map();
  waitersQueued = false;
  for (const [target, checks] of due) {
    if (!target.waiting) target.flush();
    else if (checks + 1 >= MAX_WRITE_CHECKS) turns.add(target);
    else queueWaiter(target, checks + 1);
  }
}

function queueWaiter(target: WriteWaiter, checks: number): void {
  if (waiters.has(target)) return;
  waiters.set(target, checks);
  if (waitersQueued) return;
  waitersQueued = true;
  setImmediate(checkWaiters);
}

/**
 * Flushes `target` at the end of the first job after which it waits no more (its seal done,
 * its socket done writing), with everything pushed to it by then: the group commit of a
 * connection whose seals run inline. A socket that stays busy for `MAX_WRITE_CHECKS` job ends
 * leaves its frames to a turn (`scheduleFlush`). Repeated calls before then are one.
 */
export function afterWrites(target: WriteWaiter): void {
  queueWaiter(target, 0);
}

/**
 * Connections flushed between two looks at the event loop. A fan-out to 2,000 connections is
 * ~11 ms of seals and sends, and Deno writes a WebSocket's message only when the event loop runs
 * (a task per send): flushed in one go, the first reader's bytes left when the last reader's
 * frame was sealed. In slices of 100 (~0.5 ms), each slice's writes go out while the next is
 * sealed, and other work (a message read meanwhile) waits at most a slice.
 */
const SLICE = 100;

/** Connections to flush, in order, from `soonHead`; how the next slice is due. */
let soon: Flushable[] = [];
let soonHead = 0;
let soonDue: "idle" | "job end" | "next turn" = "idle";

function runSlice(): void {
  const end = Math.min(soon.length, soonHead + SLICE);
  // A flush may queue more (a reentrant push): they go after those already queued.
  while (soonHead < end) soon[soonHead++].flush();
  if (soonHead < soon.length) {
    if (soonHead >= 4 * SLICE && soonHead * 2 >= soon.length) {
      soon = soon.slice(soonHead);
      soonHead = 0;
    }
    soonDue = "next turn";
    setImmediate(runSlice);
  } else {
    soon = [];
    soonHead = 0;
    soonDue = "idle";
  }
}

/**
 * Flushes `target` at the end of the current job (a microtask), with everything pushed to it by
 * then, or, behind a long queue of flushes, in a later slice of it (`SLICE`): for a connection
 * with nothing in flight that has been quiet for `quietMs()`. The caller calls it once per batch;
 * a flush that finds nothing to do is harmless.
 */
export function sealSoon(target: Flushable): void {
  soon.push(target);
  if (soonDue !== "idle") return;
  soonDue = "job end";
  queueMicrotask(runSlice);
}

/**
 * Flushes `target` once, after the work of the current turn, in a round with every other
 * connection due; repeated calls before then are one. The round waits from one timer tick up to
 * `MAX_DELAY_MS` (80 ms) when the last round was large: a busy server gathers more frames into
 * each seal rather than spend most of its CPU sealing one frame at a time. An object rather
 * than a callback, so a connection holds no closure for it.
 */
export function scheduleFlush(target: Flushable): void {
  turns.add(target);
}

/**
 * Flushes `target` once, in a lazy round, within `LAZY_MAX_MS` (for frames nobody waits on);
 * repeated calls before then are one.
 */
export function scheduleLazyFlush(target: Flushable): void {
  lazyTurns.add(target);
}
