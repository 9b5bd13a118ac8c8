import type { Clock, TimerHandle } from '../common';

/** What a burst report carries: how many events, how many of each code, the first and the last. */
export interface Burst<T> {
  count: number;
  codes: Record<string, number>;
  first: T;
  last: T;
}

/**
 * Turns events a peer can make by the thousand (protocol errors, failed TLS
 * handshakes, refused connections) into at most one report a window. The
 * first event after a quiet window is reported at once (unless `firstAtOnce`
 * is off); the ones that follow within the window are counted, by code, and
 * reported together when it ends, which opens the next window. `flush()`
 * reports what is counted now (a connection closes, the master stops).
 */
export class BurstCounter<T> {
  private pending: Burst<T> | undefined;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly report: (burst: Burst<T>) => void,
    private readonly firstAtOnce = true,
  ) {}

  add(code: string, detail: T): void {
    const pending = (this.pending ??= { count: 0, codes: {}, first: detail, last: detail });
    pending.count += 1;
    pending.codes[code] = (pending.codes[code] ?? 0) + 1;
    pending.last = detail;
    if (this.timer !== undefined) return;
    if (this.firstAtOnce) this.reportPending();
    this.openWindow();
  }

  /** Reports what is counted and closes the window. */
  flush(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.reportPending();
  }

  private openWindow(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.pending === undefined) return;
      this.reportPending();
      this.openWindow();
    }, this.windowMs);
    // A window must never be what keeps a stopping master alive.
    this.timer.unref?.();
  }

  private reportPending(): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) this.report(pending);
  }
}
