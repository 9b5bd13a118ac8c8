/**
 * The failure detectors a master can judge silence with, their parameters and
 * the pure mathematics of the phi accrual detector (Hayashibara et al. 2004,
 * as Akka's `PhiAccrualFailureDetector` computes it). The master keeps the
 * state (a window of inter-arrival times); the orchestrator derives the
 * checker's bounds from the same functions. Pure: no I/O, no clock.
 */
import { MAX_DURATION_MS, type IntegerRange } from '../common/limits';

/**
 * `fixed`: silent after a fixed timeout (3 × the announced interval, or
 * `--heartbeat-timeout-ms`). `phi`: phi accrual, capped by that same timeout.
 */
export const DETECTOR_KINDS = ['fixed', 'phi'] as const;
export type DetectorKind = (typeof DETECTOR_KINDS)[number];

/** The phi accrual detector's parameters. */
export interface PhiParams {
  /** Suspicion level at which a peer is declared silent: phi 8 means a chance of 10^-8 that it is only late. Default 8. */
  threshold: number;
  /** Floor of the standard deviation of inter-arrival times, in ms: steady beats must not make any lateness fatal. Default 100. */
  minStdDevMs: number;
  /**
   * Added to the mean inter-arrival time, in ms: a pause (GC, a busy machine)
   * that is not suspicious. Default 500: half a second late is what a slave
   * process or the master's reading of it took on a busy machine (measured
   * beside two CPU-bound processes, 10,000 slaves: gaps up to 1.5 s at a 1 s
   * interval), where 0 made phi fail slaves that were only late. Akka's
   * cluster default is 3 s, but here the fixed timeout caps phi.
   */
  acceptablePauseMs: number;
}

/** Akka's threshold (Cassandra's `phi_convict_threshold` too) and Akka's `min-std-deviation`; a shorter acceptable pause than Akka's. */
export const DEFAULT_PHI_PARAMS: Readonly<PhiParams> = { threshold: 8, minStdDevMs: 100, acceptablePauseMs: 500 };

/**
 * The accepted range of each parameter. The threshold is an integer: 1 is
 * below any sensible setting (one false suspicion in ten late beats) and 50
 * far beyond (10^-50).
 */
export const PHI_PARAM_RANGES: Readonly<Record<keyof PhiParams, IntegerRange>> = {
  threshold: { min: 1, max: 50 },
  minStdDevMs: { min: 1, max: MAX_DURATION_MS },
  acceptablePauseMs: { min: 0, max: MAX_DURATION_MS },
};

/**
 * Inter-arrival times the master's window keeps per connection. Akka keeps
 * 1000 for a handful of cluster members; a master holds up to 10,000
 * connections, where 1000 doubles each would be 80 MB. 100 are 800 bytes a
 * connection, and at a 1 s interval still cover 100 s of history: enough for
 * a stable mean and deviation, and a change of pace is learnt within it.
 */
export const PHI_WINDOW_SIZE = 100;

/**
 * Frames closer together than this fraction of the announced interval are one
 * arrival: a burst of resent messages after a reconnect, or frames a stalled
 * master reads at once, must not teach the window that the peer beats every
 * millisecond (which would make the next ordinary gap look fatal). Skipping
 * them only makes the mean longer, so detection later, never earlier.
 */
export const PHI_BURST_FRACTION = 0.25;

// The logistic approximation of the standard normal CDF (Bowling et al. 2009, used by Akka):
// P(X > y) ≈ e / (1 + e), e = exp(-y (A + B y²)).
const A = 1.5976;
const B = 0.070566;

/** `y (A + B y²)`: minus the logarithm of `e` above. */
function exponentOf(y: number): number {
  return y * (A + B * y * y);
}

/**
 * Phi after `elapsedMs` without an arrival, when arrivals come every
 * `meanMs` (the acceptable pause included) with deviation `stdDevMs`:
 * `-log10(P(a gap at least this long))`. Computed in log space, so a long
 * silence gives a large finite phi, never Infinity.
 */
export function phiOf(elapsedMs: number, meanMs: number, stdDevMs: number): number {
  const y = (elapsedMs - meanMs) / stdDevMs;
  const g = exponentOf(y);
  // -log10(e / (1 + e)) = (g + ln(1 + e)) / ln 10, with e = exp(-g).
  if (g >= 0) return (g + Math.log1p(Math.exp(-g))) / Math.LN10;
  // For y < 0: -log10(1 / (1 + exp(g))) = ln(1 + exp(g)) / ln 10.
  return Math.log1p(Math.exp(g)) / Math.LN10;
}

/**
 * The `y` (deviations past the mean) at which phi reaches `threshold`: the
 * real root of `B y³ + A y - ln(10^threshold - 1) = 0`, by Cardano's formula
 * (one real root: the cubic increases). Thresholds up to log10(2), which the
 * mean itself reaches, give y ≤ 0.
 */
export function phiSuspicionY(threshold: number): number {
  // e / (1 + e) = 10^-threshold  <=>  g = ln(10^threshold - 1) = threshold ln 10 + ln(1 - 10^-threshold).
  const g = threshold * Math.LN10 + Math.log1p(-(10 ** -threshold));
  const p = A / B;
  const q = -g / B;
  const root = Math.sqrt((q * q) / 4 + (p * p * p) / 27);
  return Math.cbrt(-q / 2 + root) + Math.cbrt(-q / 2 - root);
}

/**
 * How long after the last arrival phi reaches the threshold, in ms, for a
 * window whose mean is `meanMs` and deviation `stdDevMs` (before the floor
 * and the pause are applied: this function applies them).
 */
export function phiSuspicionDelayMs(meanMs: number, stdDevMs: number, params: PhiParams): number {
  return meanMs + params.acceptablePauseMs + phiSuspicionY(params.threshold) * Math.max(stdDevMs, params.minStdDevMs);
}

/**
 * The earliest the phi detector can suspect a peer that announced
 * `intervalMs`, in ms after its last frame: its window's mean is at least
 * {@link PHI_BURST_FRACTION} of the interval (shorter gaps are not sampled)
 * and its deviation at least `minStdDevMs`. Never later than `capMs`, the
 * fixed timeout that caps it.
 */
export function phiEarliestSuspicionMs(intervalMs: number, capMs: number, params: PhiParams): number {
  return Math.min(capMs, phiSuspicionDelayMs(PHI_BURST_FRACTION * intervalMs, 0, params));
}
