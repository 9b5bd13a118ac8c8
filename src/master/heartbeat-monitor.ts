import type { Clock, TimerHandle } from '../common';

/**
 * Declares a peer silent when no frame has arrived for `timeoutMs`.
 *
 * `touch()` only records a time: at hundreds of thousands of frames a second,
 * resetting a timer per frame would cost more than the frame. The one timer
 * fires at the earliest possible deadline and re-arms itself for what is left.
 */
export class HeartbeatMonitor {
  private lastFrameAt: number;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private timeoutMs: number,
    private readonly onSilent: (silentMs: number) => void,
  ) {
    this.lastFrameAt = clock.now();
    this.schedule(timeoutMs);
  }

  touch(now: number): void {
    this.lastFrameAt = now;
  }

  /** A peer announced its interval: apply the new timeout from the last frame on. */
  setTimeoutMs(timeoutMs: number): void {
    if (timeoutMs === this.timeoutMs) return;
    this.timeoutMs = timeoutMs;
    this.stop();
    this.schedule(Math.max(0, this.lastFrameAt + timeoutMs - this.clock.now()));
  }

  /** Counts silence from `now` again: the peer's frames were there, but the master was not reading them. */
  restart(now: number): void {
    this.lastFrameAt = now;
    this.stop();
    this.schedule(this.timeoutMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    this.timer = this.clock.setTimeout(() => this.check(), delayMs);
    // A monitor must never be what keeps a stopping master alive.
    this.timer.unref?.();
  }

  private check(confirming = false): void {
    const silentMs = this.clock.now() - this.lastFrameAt;
    if (silentMs < this.timeoutMs) {
      this.schedule(this.timeoutMs - silentMs);
    } else if (!confirming) {
      // Timers run before the event loop reads sockets: after a stall (GC, a
      // burst of work) frames that arrived in time may still be unread. Judge
      // only once they have been read.
      const timer = this.timer;
      this.clock.afterPendingIo(() => {
        if (this.timer === timer) this.check(true);
      });
    } else {
      this.timer = undefined;
      this.onSilent(silentMs);
    }
  }
}
