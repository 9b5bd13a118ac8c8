import { PHI_BURST_FRACTION, PHI_WINDOW_SIZE, phiOf, phiSuspicionY, type PhiParams } from '../protocol';
import type { FailureDetector, Suspicion } from './failure-detector';

/**
 * The phi accrual failure detector (Hayashibara et al. 2004), as Akka's
 * `PhiAccrualFailureDetector`: inter-arrival times in a sliding window,
 * modelled as a normal distribution whose deviation is at least
 * `minStdDevMs` and whose mean is lengthened by `acceptablePauseMs`.
 *
 * Phi grows with silence; instead of evaluating it on a timer, the detector
 * solves once per sample for the silence at which phi reaches the threshold
 * (the logistic CDF inverted: see `phiSuspicionY`), and {@link deadline} is
 * the last arrival plus that delay. The delay never exceeds the fixed
 * timeout (`capMs`): phi detects no later than the fixed detector would.
 *
 * Times are integer ms, so the window's sums stay exact (no drift however
 * many samples slide through).
 */
export class PhiAccrualDetector implements FailureDetector {
  readonly kind = 'phi';
  lastArrivalAt: number;
  private readonly samples = new Float64Array(PHI_WINDOW_SIZE);
  private count = 0;
  private next = 0;
  private sum = 0;
  private sumOfSquares = 0;
  private readonly suspicionY: number;
  /** Silence after which phi reaches the threshold, capped: recomputed when the window changes. */
  private delayMs = 0;
  private minGapMs = 0;

  constructor(
    private readonly params: PhiParams,
    now: number,
    intervalMs: number,
    private capMs: number,
  ) {
    this.lastArrivalAt = now;
    this.suspicionY = phiSuspicionY(params.threshold);
    this.bootstrap(intervalMs);
  }

  arrived(now: number): void {
    const gapMs = now - this.lastArrivalAt;
    this.lastArrivalAt = now;
    if (gapMs < this.minGapMs) return;
    this.add(gapMs);
    this.updateDelay();
  }

  restart(now: number): void {
    this.lastArrivalAt = now;
  }

  announced(intervalMs: number, timeoutMs: number): void {
    this.capMs = timeoutMs;
    this.bootstrap(intervalMs);
  }

  deadline(): number {
    return this.lastArrivalAt + this.delayMs;
  }

  suspicion(now: number): Suspicion {
    return { detector: 'phi', phi: Math.round(this.phi(now) * 100) / 100 };
  }

  /** Phi at `now`, from the window as it is. */
  phi(now: number): number {
    return phiOf(now - this.lastArrivalAt, this.mean() + this.params.acceptablePauseMs, this.stdDev());
  }

  /** Mean of the window's inter-arrival times, in ms. */
  mean(): number {
    return this.sum / this.count;
  }

  /** Deviation of the window's inter-arrival times (population), at least `minStdDevMs`. */
  stdDev(): number {
    const mean = this.mean();
    // Exact integer sums, but the difference of two close numbers may still round below 0.
    const variance = Math.max(0, this.sumOfSquares / this.count - mean * mean);
    return Math.max(Math.sqrt(variance), this.params.minStdDevMs);
  }

  /** Samples in the window. */
  get size(): number {
    return this.count;
  }

  /**
   * Akka's first-heartbeat estimate: before anything was measured, the window
   * holds the interval ± a quarter of it, so that the first gaps are judged
   * by what the peer announced. Until the first frame after it arrives there
   * is no gap to judge, only the wait for one (a slave sends its first
   * heartbeat once the master has answered its hello, which may take a
   * loaded machine seconds): the fixed timeout applies until then.
   */
  private bootstrap(intervalMs: number): void {
    this.count = 0;
    this.next = 0;
    this.sum = 0;
    this.sumOfSquares = 0;
    const quarter = Math.round(intervalMs / 4);
    this.add(intervalMs - quarter);
    this.add(intervalMs + quarter);
    this.minGapMs = PHI_BURST_FRACTION * intervalMs;
    this.delayMs = this.capMs;
  }

  private add(gapMs: number): void {
    if (this.count === PHI_WINDOW_SIZE) {
      const oldest = this.samples[this.next] ?? 0;
      this.sum -= oldest;
      this.sumOfSquares -= oldest * oldest;
    } else {
      this.count += 1;
    }
    this.samples[this.next] = gapMs;
    this.next = (this.next + 1) % PHI_WINDOW_SIZE;
    this.sum += gapMs;
    this.sumOfSquares += gapMs * gapMs;
  }

  private updateDelay(): void {
    const phiDelayMs = this.mean() + this.params.acceptablePauseMs + this.suspicionY * this.stdDev();
    this.delayMs = Math.min(this.capMs, Math.ceil(phiDelayMs));
  }
}
