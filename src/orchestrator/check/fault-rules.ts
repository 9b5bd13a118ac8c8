/**
 * Everything the checker knows of each fault action, in one table: what the
 * action does to a slave's process and connection, which disconnect reasons
 * it may cause and by which bound, which latency group it counts in, and what
 * it excuses. The phases read it; none of them names an action.
 */
import { ACTIONS, faultRuleOf } from '../actions';
import type { Bound, BoundSettings } from '../bounds';
import type { CheckReport } from '../check-result';
import type { Action } from '../types';

export type LatencyGroup = keyof CheckReport['latency'];

/** A slave's flag that a cut sets and its heal clears. */
export type Disruption = 'cut' | 'paused';

/** How the checker reads one action. */
export interface CheckerActionRule {
  /**
   * What it does: `end-process` (the slave's process ends; `restartsProcess`
   * says whether a new one follows), `start` (a process starts), `cut` (the
   * connection is broken while the process lives on; `disruption`, `endedBy`),
   * `heal` (that break ends), `master-restart` (the master stops and starts).
   */
  readonly kind: 'end-process' | 'start' | 'cut' | 'heal' | 'master-restart';
  /** It targets the master: its target names no slave. */
  readonly targetsMaster: boolean;
  /** Where the detection latency of its disconnects is summed up. */
  readonly latencyGroup: LatencyGroup;
  /** The master's disconnect reasons that fit it (none: it causes no disconnect). */
  readonly disconnectReasons: readonly string[];
  /** Its disconnect's bound from the confirmation; a master restart's is the old master's shutdown line. */
  readonly disconnectBound?: (settings: BoundSettings) => Bound;
  /** The slave flag a `cut` sets and a `heal` clears. */
  readonly disruption?: Disruption;
  /** The action that ends a `cut`. */
  readonly endedBy?: Action;
  /** How notes name a `cut`. */
  readonly noun?: string;
  /** An `end-process` that starts the process again (restart). */
  readonly restartsProcess: boolean;
  /** Its in-flight window excuses the messages of a slave that asked for acks too, whatever the state (kill). */
  readonly alwaysUnclean: boolean;
  /** It may take a `sent` line with the process after its frame went out (SIGKILL). */
  readonly losesSentLines: boolean;
  /** After it, a connection that outlived the fault shows the node again (a short cut or pause). */
  readonly mayKeep: boolean;
  /** After it, the node must be seen again. */
  readonly recovers: boolean;
}

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
