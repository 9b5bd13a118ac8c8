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
      this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.countedAt) * this.perSecond) / 1000);
      this.countedAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
