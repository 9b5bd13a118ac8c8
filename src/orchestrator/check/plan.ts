/**
 * What the timeline makes the checker look for: expectations (an effect that
 * must or may show in the master's log) and in-flight windows (messages a
 * fault may take with it), and the helpers the walk over the faults
 * (expectations.ts, master-restart.ts) builds them with.
 */
import { recoveryBound, type Bound } from '../bounds';
import type { ExpectationResult } from '../check-result';
import { iso, rel, type RunContext } from './context';
import { FAULT_RULES, type LatencyGroup } from './fault-rules';
import type { Fault } from './faults';
import type { SlaveModel } from './slaves';

/** One thing a fault makes the checker look for, before it is looked for. */
export interface Expectation {
  readonly fault: Fault;
  readonly slave: SlaveModel;
  readonly check: ExpectationResult['check'];
  readonly expect: ExpectationResult['expect'];
  readonly reasons: readonly string[];
  readonly from: number;
  readonly deadline: number;
  /** The bound counted from the request rather than the confirmation: an effect by then is in time, however slow the confirmation. */
  readonly strictDeadline: number;
  readonly group: LatencyGroup;
  /** Master restart: the disconnect must come from the old master, before its shutdown line (if it logged one). */
  readonly oldMaster?: { readonly incarnation: number; readonly shutdownIndex: number | undefined };
  /** The report's entry as it stands before the master's log is looked at. */
  readonly base: Readonly<ExpectationResult>;
}

/** A span in which a slave's messages may be lost to a fault. */
export interface Window {
  readonly fault: Fault;
  readonly name: string;
  readonly from: number;
  readonly to: number;
  /** Only messages of this incarnation (a kill breaks only the process it kills). */
  readonly incarnation?: number;
  /**
   * Whether it excuses the messages of a slave that asked for acks too: only
   * when the process died unclean (a kill; a stop while it could not reach
   * the master) or a fault outlasted the run, so nothing could be resent.
   */
  readonly evenWithAcks: boolean;
  /** How `from` and `to` were derived, for reports. */
  readonly bound: string;
}

/** Where and until when a fault's effect is looked for. */
export interface EffectWindow {
  readonly from: number;
  /** The fault's confirmation + its bound. */
  readonly deadline: number;
  /** The fault's request + its bound. */
  readonly strictDeadline: number;
  /** How `deadline` was derived, for reports. */
  readonly bound: string;
}

/** What the checker knows of a slave while it walks the timeline. */
export interface SlaveState {
  alive: boolean;
  cut: boolean;
  paused: boolean;
  /** Its link is degraded by a network action (a delay, a one-way partition…) until a heal. */
  degraded: boolean;
  /** When its current or latest cut or pause began: what it sent since may wait in its outbox. */
  disruptedFrom?: number;
  /** When that cut or pause ended; after it, the slave resends. */
  recoveredAt?: number;
}

export interface Plan {
  readonly expectations: readonly Expectation[];
  readonly windows: readonly Window[];
}

/** What the walk gathers, in timeline order (the report keeps it). */
export interface PlanDraft {
  readonly ctx: RunContext;
  readonly expectations: Expectation[];
  readonly windows: Window[];
}

/** What one expectation looks for, as a fault's handler states it. */
export interface ExpectationSpec {
  check: ExpectationResult['check'];
  expect: ExpectationResult['expect'];
  window: EffectWindow;
  reasons?: readonly string[];
  note?: string;
  oldMaster?: Expectation['oldMaster'];
}

/** Adds an expectation, with its report entry as planned (`fail` for a `must` until its effect is found). */
export function addExpectation(plan: PlanDraft, fault: Fault, slave: SlaveModel, spec: ExpectationSpec): void {
  const { check, expect, window, reasons, note, oldMaster } = spec;
  const { from, deadline, strictDeadline, bound } = window;
  plan.expectations.push({
    fault,
    slave,
    check,
    expect,
    reasons: reasons ?? [],
    from,
    deadline,
    strictDeadline,
    group: FAULT_RULES[fault.action].latencyGroup,
    oldMaster,
    base: {
      fault: fault.ref,
      node: slave.name,
      nodeId: slave.node,
      check,
      expect,
      reasons: reasons === undefined ? undefined : [...reasons],
      from: iso(from),
      deadline: iso(deadline),
      bound,
      status: expect === 'none' ? 'not_applicable' : expect === 'may' ? 'pass' : 'fail',
      note,
    },
  });
}

/**
 * Where a fault's effect is looked for: from its request to its
 * confirmation plus `bound`, capped at `cap` (the run's end, for a node seen again).
 */
export function effectWindow(ctx: RunContext, fault: Fault, b: Bound, cap = Infinity): EffectWindow {
  const capped = fault.confirmed + b.ms > cap ? `, capped at the run's end (${rel(ctx, cap)})` : '';
  return {
    from: fault.requested,
    deadline: Math.min(fault.confirmed + b.ms, cap),
    strictDeadline: Math.min(fault.requested + b.ms, cap),
    bound: `confirmation + ${b.derivation}${capped}`,
  };
}

/**
 * After a recovery the node must be seen again: a `connect` then a `hello`
 * from it, both after the recovery began (the runner may confirm a start by
 * the hello itself, so not after its confirmation). When the master never
 * dropped the connection (a short cut or pause), any message on it will do.
 */
export function addRecovery(
  plan: PlanDraft,
  fault: Fault,
  slave: SlaveModel,
  skip: string | undefined,
  from = fault.requested,
): void {
  const window = { ...effectWindow(plan.ctx, fault, recoveryBound(plan.ctx.info), plan.ctx.runEnd), from };
  if (skip !== undefined) {
    addExpectation(plan, fault, slave, { check: 'recovery', expect: 'none', window, note: `not checked: ${skip}` });
  } else {
    addExpectation(plan, fault, slave, { check: 'recovery', expect: 'must', window });
  }
}
