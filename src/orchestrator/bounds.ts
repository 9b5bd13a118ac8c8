/**
 * The time bounds the checker applies, each a sum of named terms so that the
 * report can say how it was derived. A fault's effect (a disconnect, a node
 * seen again) is accepted from the fault's request to its confirmation plus
 * its bound: the harness knows the fault took effect somewhere between the
 * two, not where. The terms are the scenario's own settings (interval,
 * timeout) and allowances for how the cluster reacts, each documented with
 * what it covers; the allowance for scheduling noise is measured
 * (`npm run bench lateness`, docs/benchmarks.md).
 *
 * Pure: no I/O, no clock.
 */
import { phiEarliestSuspicionMs } from '../protocol';
import type { DetectorSpec } from './scenario-detector';

/**
 * How late a timer or an I/O callback may run in a node on a loaded machine:
 * the master's heartbeat-timeout timer, its read of a FIN, a slave's
 * reconnect or heartbeat timer. `npm run bench lateness` (docs/benchmarks.md,
 * "Scheduling noise") measured timers of 250 ms and 1 s in a Node.js process next
 * to two busy ones on the 2-core machine at load average 5–8: p99.9 90 ms,
 * worst 107 ms. The slack is about nine times the worst, for machines busier
 * than that one. How late the engine acts is not slack: it is measured per
 * fault, as the span from its request to its confirmation.
 */
export const SCHEDULING_SLACK_MS = 1000;

/**
 * A killed or stopped slave's connection ends when the kernel closes its
 * socket, which it has done by the time the process's exit is confirmed; the
 * master reads the FIN or RST on its next turn. Twice the scheduling slack: a
 * container's network namespace may outlive its process's exit by a moment.
 */
export const KILL_DETECT_MS = 2 * SCHEDULING_SLACK_MS;

/**
 * What a slave needs after its recovery is confirmed, beyond the master's
 * heartbeat timeout (which may still have to drop the old connection): notice
 * the dead connection (an ack timeout, at least 1 s), a reconnect backoff
 * (capped at 1 s in a run), a connect attempt (connect timeout 1 s in a run)
 * and a hello, each of which may be late by the scheduling slack.
 */
export const RECOVERY_ALLOWANCE_MS = 3000 + 2 * SCHEDULING_SLACK_MS;

/**
 * A fault whose confirmation came this long after its request cannot be
 * judged in time: its effect may have happened at any moment of that span.
 * Its expectations pass when their effect came within the bound of the
 * request itself, and are inconclusive otherwise, never failed for timing.
 * Ten times the slowest confirmation measured on a loaded machine.
 */
export const CONFIRM_LIMIT_MS = 10_000;

/** A bound: the sum of its terms, and how they add up, for reports. */
export interface Bound {
  ms: number;
  /** E.g. `timeout 1000 + interval 250 + scheduling slack 1000 = 2250 ms`. */
  derivation: string;
}

function bound(terms: ReadonlyArray<readonly [string, number]>): Bound {
  const ms = terms.reduce((sum, [, value]) => sum + value, 0);
  const parts = terms.map(([name, value]) => `${name} ${value}`);
  return { ms, derivation: `${parts.join(' + ')}${terms.length > 1 ? ` = ${ms}` : ''} ms` };
}

/** The scenario's settings a bound may depend on. */
export interface BoundSettings {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** The master's failure detector; unset: `fixed`. */
  detector?: DetectorSpec;
}

/**
 * The bound's term for the master's detection: the heartbeat timeout with
 * either detector. Phi suspects when its window says so, but never later than
 * that timeout (the master caps it), so the fixed detector's bound holds for
 * phi too, and is what the checker can promise: how much earlier phi comes
 * depends on the pace it learnt, not on the scenario alone.
 */
function detectionTerm(settings: BoundSettings): readonly [string, number] {
  const name = settings.detector?.kind === 'phi' ? 'timeout (phi capped by it)' : 'timeout';
  return [name, settings.heartbeatTimeoutMs];
}

/**
 * The shortest silence after which the master may declare a node silent, in
 * ms after its last frame: the timeout with `fixed`; with `phi`, its window's
 * smallest possible mean (a quarter of the interval) plus the acceptable
 * pause plus y(threshold) × the minimum deviation, at most the timeout. A
 * fault that holds frames up for less than this cannot cause a `timeout`.
 */
export function earliestTimeoutMs(settings: BoundSettings): number {
  const { detector } = settings;
  if (detector?.kind !== 'phi') return settings.heartbeatTimeoutMs;
  return Math.floor(phiEarliestSuspicionMs(settings.heartbeatIntervalMs, settings.heartbeatTimeoutMs, detector));
}

/** Kill, stop, restart: the connection ends with the process. */
export function killBound(): Bound {
  return bound([['kill detection (2 × scheduling slack)', KILL_DETECT_MS]]);
}

/**
 * Cut, pause: the master's timeout runs from the last frame it read, up to an
 * interval before the fault, and its timer may fire late.
 */
export function cutBound(settings: BoundSettings): Bound {
  return bound([
    detectionTerm(settings),
    ['interval', settings.heartbeatIntervalMs],
    ['scheduling slack', SCHEDULING_SLACK_MS],
  ]);
}

/** Reconnect, unpause, start, restart, master restart: the node must be seen again (connect + hello). */
export function recoveryBound(settings: BoundSettings): Bound {
  return bound([detectionTerm(settings), ['reconnect allowance', RECOVERY_ALLOWANCE_MS]]);
}
