import type { Clock, TimerHandle } from '../../src/common';

/** A clock that moves only when told to, firing due timers in order. */
export class FakeClock implements Clock {
  private time = 0;
  private timers: Array<{ at: number; callback: () => void; handle: TimerHandle }> = [];

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const handle: TimerHandle = {};
    this.timers.push({ at: this.time + delayMs, callback, handle });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((timer) => timer.handle !== handle);
  }

  afterPendingIo(callback: () => void): void {
    callback();
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.callback();
    }
    this.time = end;
  }
}
