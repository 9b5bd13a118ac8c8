import type { Clock, TimerHandle } from '../common';
import type { FailureDetector, Suspicion } from './failure-detector';

/**
 * Declares a peer silent when its {@link FailureDetector} says so.
 *
 * `touch()` only tells the detector a time: at hundreds of thousands of
 * frames a second, resetting a timer per frame would cost more than the
 * frame. The one timer fires at the earliest possible deadline and re-arms
 * itself for what is left; only a deadline that moved earlier (phi learning a
 * faster pace) re-arms it at once.
 */
export class HeartbeatMonitor {
  private timer: TimerHandle | undefined;
  /** When the armed timer fires, clock ms. */
  private armedAt = Infinity;
  /** One callback for every arming: at 10,000 connections a closure per re-arm is garbage a few thousand times a second. */
  private readonly onTimer = (): void => this.check();

  constructor(
    private readonly clock: Clock,
    private readonly detector: FailureDetector,
    private readonly onSilent: (silentMs: number, suspicion: Suspicion) => void,
  ) {
    this.schedule(detector.deadline());
  }

  touch(now: number): void {
    this.detector.arrived(now);
    if (this.timer !== undefined && this.detector.deadline() < this.armedAt) this.rearm();
  }

  /** A peer announced its interval: apply what it implies from the last frame on. */
  announced(intervalMs: number, timeoutMs: number): void {
    this.detector.announced(intervalMs, timeoutMs);
    if (this.timer !== undefined) this.rearm();
  }

  /** Counts silence from `now` again: the peer's frames were there, but the master was not reading them. */
  restart(now: number): void {
    this.detector.restart(now);
    this.rearm();
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
  }

  private rearm(): void {
    this.stop();
    this.schedule(this.detector.deadline());
  }

  private schedule(at: number): void {
    this.armedAt = at;
    this.timer = this.clock.setTimeout(this.onTimer, Math.max(0, at - this.clock.now()));
    // A monitor must never be what keeps a stopping master alive.
    this.timer.unref?.();
  }

  private check(confirming = false): void {
    const now = this.clock.now();
    const deadline = this.detector.deadline();
    if (now < deadline) {
      this.schedule(deadline);
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
      this.armedAt = Infinity;
      this.onSilent(now - this.detector.lastArrivalAt, this.detector.suspicion(now));
    }
  }
}
