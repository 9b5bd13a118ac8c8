import type { DetectorKind, MasterLine } from '../protocol';
import type { MasterOptions } from './options';
import { PhiAccrualDetector } from './phi-accrual';

/** What a `timeout` disconnect line says of the detector that declared the peer silent. */
export interface Suspicion {
  detector: DetectorKind;
  /** Phi at that moment, two decimals; below the threshold when the fixed timeout capped it. Phi only. */
  phi?: number;
}

/**
 * Judges a peer's silence from the times its frames arrived. Pure: the
 * {@link HeartbeatMonitor} owns the one timer and asks {@link deadline} when
 * it fires, so a frame costs a few arithmetic operations, never a timer.
 */
export interface FailureDetector {
  readonly kind: DetectorKind;
  /** When the last frame arrived (or silence was last restarted), clock ms. */
  readonly lastArrivalAt: number;
  /** A frame arrived at `now`. */
  arrived(now: number): void;
  /** Counts silence from `now` again, learning nothing: the master was not reading. */
  restart(now: number): void;
  /**
   * The peer's hello announced its heartbeat interval; `timeoutMs` is the
   * fixed timeout for it (3 × the interval clamped, or the operator's).
   */
  announced(intervalMs: number, timeoutMs: number): void;
  /** From when (clock ms) the peer is silent, given what arrived so far. */
  deadline(): number;
  /** What to log when the peer is declared silent at `now`. */
  suspicion(now: number): Suspicion;
}

/** Today's detector: silent once no frame came for the timeout. */
export class FixedTimeoutDetector implements FailureDetector {
  readonly kind = 'fixed';
  lastArrivalAt: number;

  constructor(
    now: number,
    private timeoutMs: number,
  ) {
    this.lastArrivalAt = now;
  }

  arrived(now: number): void {
    this.lastArrivalAt = now;
  }

  restart(now: number): void {
    this.lastArrivalAt = now;
  }

  announced(_intervalMs: number, timeoutMs: number): void {
    this.timeoutMs = timeoutMs;
  }

  deadline(): number {
    return this.lastArrivalAt + this.timeoutMs;
  }

  suspicion(): Suspicion {
    return { detector: 'fixed' };
  }
}

/** A new connection's detector under `options`, before any hello. */
export function detectorOf(options: MasterOptions, now: number): FailureDetector {
  const intervalMs = options.defaultHeartbeatIntervalMs;
  const timeoutMs = options.heartbeatTimeoutMs ?? options.heartbeatTimeoutFactor * intervalMs;
  if (options.detector === 'fixed') return new FixedTimeoutDetector(now, timeoutMs);
  const params = {
    threshold: options.phiThreshold,
    minStdDevMs: options.phiMinStdDevMs,
    acceptablePauseMs: options.phiAcceptablePauseMs,
  };
  return new PhiAccrualDetector(params, now, intervalMs, timeoutMs);
}

/** What the `listening` line says of the detector in use: its kind, and phi's parameters with `phi`. */
export function detectorFields(
  options: MasterOptions,
): Pick<MasterLine<'listening'>, 'detector' | 'phi_threshold' | 'phi_min_std_dev_ms' | 'phi_acceptable_pause_ms'> {
  if (options.detector === 'fixed') return { detector: 'fixed' };
  return {
    detector: 'phi',
    phi_threshold: options.phiThreshold,
    phi_min_std_dev_ms: options.phiMinStdDevMs,
    phi_acceptable_pause_ms: options.phiAcceptablePauseMs,
  };
}
