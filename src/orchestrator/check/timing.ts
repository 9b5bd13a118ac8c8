/**
 * How an expectation's effect is judged in time, and what the checks report
 * on what they find: shared by disconnect matching and recoveries.
 */
import { CONFIRM_LIMIT_MS } from '../bounds';
import type { ExpectationResult, Inconclusive } from '../check-result';
import { rel, type RunContext } from './context';
import { faultText } from './faults';
import type { Expectation } from './plan';

/** What a check found of one expectation: it replaces the planned status and may add a sighting. */
export interface Outcome {
  readonly status: ExpectationResult['status'];
  readonly seen?: ExpectationResult['seen'];
}

/**
 * Whether an effect at `at` (undefined: none was seen) came in time for its
 * expectation. An effect within the bound of the fault's request is in time;
 * one within the bound of its confirmation too, unless the confirmation took
 * longer than {@link CONFIRM_LIMIT_MS}: then nobody can tell (`unknown`).
 */
export function timing(e: Expectation, at: number | undefined): 'in_time' | 'late' | 'unknown' {
  if (at !== undefined && at <= e.strictDeadline) return 'in_time';
  if (e.fault.slow) return 'unknown';
  return at !== undefined && at <= e.deadline ? 'in_time' : 'late';
}

/** A status after its expectation was found unjudgeable: a failure stays one. */
export const unjudged = (status: ExpectationResult['status']): ExpectationResult['status'] =>
  status === 'fail' ? 'fail' : 'inconclusive';

/** The expectation cannot be judged: its fault was confirmed too late to tell when it took effect. */
export function slowConfirmation(ctx: RunContext, e: Expectation, seen: string): Inconclusive {
  const { fault } = e;
  return {
    node: e.slave.name,
    kind: 'slow_confirmation',
    fault: fault.ref.index,
    detail: `${e.slave.name}: the ${faultText(fault)} was confirmed ${fault.confirmed - fault.requested} ms after its request (limit ${CONFIRM_LIMIT_MS} ms); ${seen}, not within the bound of the request (${rel(
      ctx,
      e.strictDeadline,
    )}): whether the master was in time cannot be told`,
  };
}
