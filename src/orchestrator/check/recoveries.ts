/** Recoveries: after each, the node must be seen again in time. */
import type { Failure, Inconclusive } from '../check-result';
import { iso, rel, type RunContext } from './context';
import { faultText } from './faults';
import type { MasterMessage } from './master';
import type { Expectation } from './plan';
import { slowConfirmation, timing, unjudged, type Outcome } from './timing';

export interface RecoveryJudgement {
  readonly outcomes: ReadonlyMap<Expectation, Outcome>;
  readonly failures: readonly Failure[];
  readonly inconclusive: readonly Inconclusive[];
}

export function checkRecoveries(
  ctx: RunContext,
  expectations: readonly Expectation[],
  sightings: ReadonlyMap<Expectation, MasterMessage>,
): RecoveryJudgement {
  const outcomes = new Map<Expectation, Outcome>();
  const failures: Failure[] = [];
  const inconclusive: Inconclusive[] = [];
  for (const e of expectations) {
    if (e.check !== 'recovery' || e.expect !== 'must') continue;
    const { slave } = e;
    const sighting = sightings.get(e);
    const t = timing(e, sighting?.at);
    const seen =
      sighting !== undefined && t !== 'late'
        ? { at: iso(sighting.at), latencyMs: sighting.at - e.fault.started, conn: sighting.conn }
        : undefined;
    if (t === 'in_time') {
      outcomes.set(e, { status: 'pass', seen });
      continue;
    }
    const first = sighting === undefined ? 'not seen again' : `first seen again at ${rel(ctx, sighting.at)}`;
    if (t === 'unknown') {
      outcomes.set(e, { status: unjudged(e.base.status), seen });
      inconclusive.push(slowConfirmation(ctx, e, first));
      continue;
    }
    outcomes.set(e, { status: 'fail', seen });
    failures.push({
      node: slave.name,
      kind: 'not_seen_again',
      fault: e.fault.ref.index,
      detail: `${slave.name} (${slave.node}) not seen again (connect + hello) after the ${faultText(
        e.fault,
      )} by ${rel(ctx, e.deadline)}${sighting === undefined ? '' : `; ${first}`}`,
    });
  }
  return { outcomes, failures, inconclusive };
}
