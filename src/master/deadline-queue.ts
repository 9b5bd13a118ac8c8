import type { Clock, TimerHandle } from '../common';

/**
 * The resolution `npm run bench deadlines` measures the queue with, in ms: 1,
 * Node's own timer resolution. A coarser one batches wake-ups but makes every
 * timeout up to that much longer, and the heartbeat timeout is a documented
 * contract ("no frame for longer than the timeout").
 */
export const DEADLINE_RESOLUTION_MS = 1;

/** One pending deadline: its place in the heap, -1 once it fired or was cleared. */
interface Deadline extends TimerHandle {
  at: number;
  order: number;
  callback: () => void;
  index: number;
}

/**
 * Every connection's heartbeat deadline in one binary min-heap, with one
 * timer of the underlying clock for the earliest: 10,000 connections cost one
 * Node timer, not 10,000, and arming or clearing a deadline is O(log n)
 * array work instead of a timer list's allocation and bookkeeping.
 *
 * A `Clock` itself, so a {@link HeartbeatMonitor} takes it as it takes any
 * clock. The master does not use it: `npm run bench deadlines` measured its
 * timer cost at 10,000 idle sessions at 1.1–1.3 × that of one Node timer per
 * session (Node's timers are already one libuv timer over lists per
 * duration, and the monitor re-arms lazily), so the master keeps Node's; the
 * queue and the benchmark stay as the measured alternative (docs/benchmarks.md). Its timer never keeps the process alive: heartbeat deadlines must
 * never be what keeps a stopping master running (each monitor used to
 * `unref()` its own). Deadlines due at the same ms fire in the order they
 * were armed.
 *
 * With `resolutionMs`, the one timer is armed for the earliest deadline
 * rounded up to a multiple of it, and fires every deadline due by then: at
 * 10,000 connections deadlines are a fraction of a ms apart, and a timer per
 * deadline would be as many timers again. A deadline is then up to
 * `resolutionMs` late, which the checker's scheduling slack (1000 ms) covers
 * many times over.
 */
export class DeadlineQueue implements Clock {
  private readonly heap: Deadline[] = [];
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private armed = 0;

  constructor(
    private readonly base: Clock,
    private readonly resolutionMs = 1,
  ) {}

  now(): number {
    return this.base.now();
  }

  afterPendingIo(callback: () => void): void {
    this.base.afterPendingIo(callback);
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const deadline: Deadline = { at: this.base.now() + delayMs, order: this.armed++, callback, index: -1 };
    this.push(deadline);
    if (this.roundedUp(deadline.at) < this.timerAt) this.arm();
    return deadline;
  }

  /** Forgets the deadline; the one timer stays armed, and re-arms for what is left when it fires. */
  clearTimeout(handle: TimerHandle): void {
    const deadline = handle as Deadline;
    if (deadline.index >= 0) this.remove(deadline);
  }

  /** Deadlines pending. */
  get size(): number {
    return this.heap.length;
  }

  private arm(): void {
    if (this.timer !== undefined) this.base.clearTimeout(this.timer);
    const first = this.heap[0];
    if (first === undefined) {
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    this.timerAt = this.roundedUp(first.at);
    this.timer = this.base.setTimeout(() => this.fire(), Math.max(0, this.timerAt - this.base.now()));
    this.timer.unref?.();
  }

  private roundedUp(at: number): number {
    return Math.ceil(at / this.resolutionMs) * this.resolutionMs;
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.base.now();
    // Only what was armed before this turn: a deadline armed by a callback for now runs on the next turn, as a timer would.
    const armedBefore = this.armed;
    try {
      for (let first = this.heap[0]; first !== undefined && first.at <= now && first.order < armedBefore;) {
        this.remove(first);
        first.callback();
        first = this.heap[0];
      }
    } finally {
      this.arm();
    }
  }

  private push(deadline: Deadline): void {
    deadline.index = this.heap.length;
    this.heap.push(deadline);
    this.up(deadline.index);
  }

  private remove(deadline: Deadline): void {
    const i = deadline.index;
    const last = this.heap.pop() as Deadline;
    deadline.index = -1;
    if (last === deadline) return;
    this.heap[i] = last;
    last.index = i;
    this.down(i);
    this.up(last.index);
  }

  private before(a: Deadline, b: Deadline): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i] as Deadline;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex] as Deadline;
      if (!this.before(item, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    heap[i] = item;
    item.index = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i] as Deadline;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.before(heap[right] as Deadline, heap[left] as Deadline) ? right : left;
      const smaller = heap[child] as Deadline;
      if (!this.before(smaller, item)) break;
      heap[i] = smaller;
      smaller.index = i;
      i = child;
    }
    heap[i] = item;
    item.index = i;
  }
}
