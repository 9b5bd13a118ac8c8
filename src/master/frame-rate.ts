/**
 * How many frames a connection may still send: a token bucket that holds one
 * second's worth of `perSecond` and refills continuously. The session passes
 * the time its current read arrived, so no clock is read per frame.
 */
export class FrameRate {
  private tokens: number;

  constructor(
    readonly perSecond: number,
    private countedAt: number,
  ) {
    this.tokens = perSecond;
  }

  /** Takes one frame's token at time `now`; false when there is none. */
  take(now: number): boolean {
    if (now !== this.countedAt) {
      // The clock is the wall clock: stepped back (NTP), it must refill nothing, not take tokens away.
      const elapsedMs = Math.max(0, now - this.countedAt);
      this.tokens = Math.min(this.perSecond, this.tokens + (elapsedMs * this.perSecond) / 1000);
      this.countedAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
