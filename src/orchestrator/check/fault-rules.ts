/**
 * Everything the checker knows of each fault action, in one table: what the
 * action does to a slave's process and connection, which disconnect reasons
 * it may cause and by which bound, which latency group it counts in, and what
 * it excuses. The phases read it; none of them names an action.
 */
import { ACTIONS, faultRuleOf, type FaultRuleView } from '../actions';
import type { Bound, BoundSettings } from '../bounds';
import type { Action } from '../types';

export type { LatencyGroup } from '../actions';

/** How the checker reads one action (see {@link FaultRuleView}). */
export type CheckerActionRule = Readonly<FaultRuleView>;

/** A slave's flag that a cut sets and its heal clears. */
export type Disruption = NonNullable<FaultRuleView['disruption']>;

/**
 * Each action's rule, read from its row of the action table (ACTION_SPECS,
 * actions.ts): a new action needs no row here.
 */
export const FAULT_RULES: Readonly<Record<Action, CheckerActionRule>> = Object.fromEntries(
  ACTIONS.map((action) => [action, faultRuleOf(action)]),
) as Record<Action, CheckerActionRule>;

/** The bound of a slave fault's disconnect; only a master restart has none (it is judged by the shutdown line). */
export function disconnectBoundOf(rule: CheckerActionRule, settings: BoundSettings): Bound {
  if (rule.disconnectBound === undefined) throw new Error(`no disconnect bound for a ${rule.kind} fault`);
  return rule.disconnectBound(settings);
}

/** Disconnect reasons with which the runner's teardown may end a connection at the run's end. */
export const END_OF_RUN_REASONS = ['closed', 'reset', 'shutdown'];
/** How a connection may end at the run's end and lose what was last sent on it (not `closed`: a FIN follows the data). */
export const RUN_END_LOSSY_REASONS = ['shutdown', 'reset'];
