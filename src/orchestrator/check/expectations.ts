/**
 * Faults and expectations: walks the faults in the order they began with each
 * slave's state (alive, cut, paused) and says what each must or may produce
 * in the master's log, and which of the slaves' messages it may take with it
 * (its in-flight windows). What each action does comes from {@link FAULT_RULES}.
 */
import { cutBound } from '../bounds';
import { CUT_RECOVERY_SLACK_MS, IN_FLIGHT_SLACK_MS, type RunContext } from './context';
import { disconnectBoundOf, FAULT_RULES, type CheckerActionRule, type Disruption } from './fault-rules';
import type { Fault } from './faults';
import { masterRestartPlan } from './master-restart';
import type { MasterModel } from './master';
import {
  addExpectation,
  addRecovery,
  effectWindow,
  type EffectWindow,
  type ExpectationSpec,
  type Plan,
  type PlanDraft,
  type SlaveState,
} from './plan';
import { incarnationAt, slaveConnectedAt, type SlaveModel, type SlavesModel } from './slaves';

/** Everything one slave fault's handler needs. */
interface Step {
  readonly plan: PlanDraft;
  readonly fault: Fault;
  readonly rule: CheckerActionRule;
  readonly slave: SlaveModel;
  readonly st: SlaveState;
  /** Why no disconnect is expected, if none is. */
  readonly why: string | undefined;
  /** The later fault that ends this one (a cut's heal), if any. */
  readonly end: Fault | undefined;
  /** When the last master stopped (or the run ended). */
  readonly masterEnd: number;
}

/** Walks the timeline with each slave's state and sets what each fault must produce. */
export function planExpectations(
  ctx: RunContext,
  faults: readonly Fault[],
  slaves: SlavesModel,
  master: MasterModel,
): Plan {
  const plan: PlanDraft = { ctx, expectations: [], windows: [] };
  const state = new Map<string, SlaveState>(
    slaves.list.map((s) => [s.name, { alive: true, cut: false, paused: false, degraded: false }]),
  );
  const finalShutdown = master.shutdowns.find((s) => s.masterIncarnation === master.lastIncarnation);
  const masterEnd = finalShutdown?.at ?? ctx.runEnd;
  faults.forEach((fault, position) => {
    const rule = FAULT_RULES[fault.action];
    if (rule.kind === 'master-restart') {
      masterRestartPlan(plan, fault, slaves, master, state);
      return;
    }
    const target = fault.ref.target;
    const slave = slaves.byName.get(target) as SlaveModel;
    const st = state.get(target) as SlaveState;
    const end =
      rule.endedBy === undefined
        ? undefined
        : faults.slice(position + 1).find((f) => f.action === rule.endedBy && f.ref.target === target);
    const why = whyNoDisconnect(st, slaveConnectedAt(slave, fault.started));
    STEPS[rule.kind]({ plan, fault, rule, slave, st, why, end, masterEnd });
  });
  return plan;
}

function whyNoDisconnect(st: SlaveState, connected: boolean): string | undefined {
  if (!st.alive) return 'the slave was not running';
  if (st.cut) return 'the slave was already cut off';
  if (st.paused) return 'the slave was paused';
  return connected ? undefined : 'the slave had no connection then (its log)';
}

const STEPS: Record<Exclude<CheckerActionRule['kind'], 'master-restart'>, (step: Step) => void> = {
  'end-process': endProcess,
  start: ({ plan, fault, slave, st }) => {
    const skip = st.alive ? 'the slave was already running' : st.cut ? 'the slave is cut off' : undefined;
    st.alive = true;
    st.paused = false;
    addRecovery(plan, fault, slave, skip);
  },
  cut: startDisruption,
  degrade: degradeLink,
  reset: resetConnection,
  heal: ({ plan, fault, rule, slave, st }) => {
    setDisruption(st, rule.disruption as Disruption, false);
    // A degradation held nothing back in the outbox: only a cut's or a pause's heal starts a resend.
    if (rule.disruption !== 'degraded' && !st.cut && !st.paused) st.recoveredAt = fault.confirmed;
    const skip = !st.alive
      ? 'the slave is not running'
      : st.cut
        ? 'the slave is still cut off'
        : st.paused
          ? 'the slave is still paused'
          : undefined;
    addRecovery(plan, fault, slave, skip);
  },
};

function setDisruption(st: SlaveState, which: Disruption, on: boolean): void {
  if (which === 'cut') st.cut = on;
  else if (which === 'degraded') st.degraded = on;
  else st.paused = on;
}

/** A fault that finds its slave unable to lose a connection: nothing to look for. */
function noDisconnect(window: EffectWindow, why: string): ExpectationSpec {
  return { check: 'disconnect', expect: 'none', window, note: `no disconnect expected: ${why}` };
}

/** Kill, stop, restart: the process ends (and starts again). */
function endProcess({ plan, fault, rule, slave, st, why }: Step): void {
  const { ctx } = plan;
  const window = effectWindow(ctx, fault, disconnectBoundOf(rule, ctx.info));
  if (why === undefined) {
    addExpectation(plan, fault, slave, {
      check: 'disconnect',
      expect: 'must',
      window,
      reasons: rule.disconnectReasons,
    });
  } else {
    addExpectation(plan, fault, slave, noDisconnect(window, why));
  }
  if (st.alive) {
    // With acks, a kill also takes what a cut or pause kept unacked, if the resend was not done yet.
    const unresent =
      st.disruptedFrom !== undefined &&
      (st.cut || st.paused || fault.started <= (st.recoveredAt ?? Infinity) + CUT_RECOVERY_SLACK_MS);
    const inFlight = `interval ${ctx.intervalMs} + in-flight slack ${IN_FLIGHT_SLACK_MS} ms before the start`;
    plan.windows.push({
      fault,
      name: slave.name,
      from: Math.min(
        fault.started - (ctx.intervalMs + IN_FLIGHT_SLACK_MS),
        unresent ? (st.disruptedFrom as number) - IN_FLIGHT_SLACK_MS : Infinity,
      ),
      to: fault.confirmed + IN_FLIGHT_SLACK_MS,
      bound: `from ${
        unresent ? `${IN_FLIGHT_SLACK_MS} ms before the cut or pause whose messages were not resent yet, or ` : ''
      }${inFlight}, to the confirmation + ${IN_FLIGHT_SLACK_MS} ms`,
      incarnation: incarnationAt(slave, fault.started)?.index,
      // A clean stop waits for the acks of what was sent, when the master can be reached.
      evenWithAcks: rule.alwaysUnclean || why !== undefined,
    });
  }
  st.alive = rule.restartsProcess;
  st.paused = false;
  // A new process starts with nothing unacked.
  st.disruptedFrom = undefined;
  if (rule.recovers) addRecovery(plan, fault, slave, st.cut ? 'the slave is cut off' : undefined);
}

/** Disconnect, pause: the connection breaks while the process lives on. */
function startDisruption({ plan, fault, rule, slave, st, why, end, masterEnd }: Step): void {
  const { ctx } = plan;
  const b = disconnectBoundOf(rule, ctx.info);
  const window = effectWindow(ctx, fault, b);
  if (why === undefined) {
    // Surely in effect from its confirmation until its end began: the least it lasted.
    const lastsMs = (end?.started ?? masterEnd) - fault.confirmed;
    const must = lastsMs > b.ms;
    addExpectation(plan, fault, slave, {
      check: 'disconnect',
      expect: must ? 'must' : 'may',
      window,
      reasons: rule.disconnectReasons,
      note: `${rule.noun ?? fault.action} of at least ${lastsMs} ms ${
        must ? `> ${b.ms} ms: a timeout is required` : `≤ ${b.ms} ms: a timeout is allowed, not required`
      }`,
    });
  } else {
    addExpectation(plan, fault, slave, noDisconnect(window, why));
  }
  if (st.alive) addLastingWindow(plan, fault, slave, end);
  if (st.alive && !st.cut && !st.paused) {
    st.disruptedFrom = fault.started;
    st.recoveredAt = undefined;
  }
  if (rule.disruption === 'cut') st.cut = true;
  else if (st.alive) st.paused = true;
}

/**
 * A network action: the link is degraded until its heal. The disconnect it
 * may cause follows from its link fault ({@link CheckerActionRule.disconnectOf}):
 * none (then a disconnect while it lasts is a failure), one allowed while it
 * lasts, or, for a one-way cut to the master, a timeout required when it
 * lasted longer than its bound. Only a fault that may disconnect may lose
 * messages: TCP delivers what a slow or lossy link holds up.
 */
function degradeLink({ plan, fault, rule, slave, st, why, end, masterEnd }: Step): void {
  const { ctx } = plan;
  const effect = fault.link === undefined ? undefined : rule.disconnectOf?.(fault.link, ctx.info);
  st.degraded = true;
  // A degraded link that cannot disconnect still gets a window: a cut's, the longest a silent link takes to be noticed.
  const b = effect?.bound?.(ctx.info) ?? cutBound(ctx.info);
  const lastsUntil = end?.confirmed ?? masterEnd;
  const window: EffectWindow = {
    from: fault.requested,
    deadline: lastsUntil + b.ms,
    strictDeadline: lastsUntil + b.ms,
    bound: `until its end's confirmation + ${b.derivation}`,
  };
  if (effect === undefined || why !== undefined) {
    const because = why ?? `this ${fault.action} cannot hold a frame up past the heartbeat or ack timeout`;
    addExpectation(plan, fault, slave, noDisconnect(window, because));
    return;
  }
  const lastsMs = (end?.started ?? masterEnd) - fault.confirmed;
  const must = effect.when === 'longer' && lastsMs > b.ms;
  addExpectation(plan, fault, slave, {
    check: 'disconnect',
    expect: must ? 'must' : 'may',
    window: must ? effectWindow(ctx, fault, b) : window,
    reasons: effect.reasons,
    note: `${fault.action} of at least ${lastsMs} ms: ${
      must
        ? `> ${b.ms} ms: a timeout is required`
        : `a disconnect (${effect.reasons.join(', ')}) is allowed while it lasts`
    }`,
  });
  if (st.alive) addLastingWindow(plan, fault, slave, end);
}

/** A reset: the connection ends at once (reason `reset`), the process lives on and reconnects. */
function resetConnection({ plan, fault, rule, slave, st, why }: Step): void {
  const { ctx } = plan;
  const window = effectWindow(ctx, fault, disconnectBoundOf(rule, ctx.info));
  if (why !== undefined) {
    addExpectation(plan, fault, slave, noDisconnect(window, why));
    return;
  }
  addExpectation(plan, fault, slave, { check: 'disconnect', expect: 'must', window, reasons: rule.disconnectReasons });
  plan.windows.push({
    fault,
    name: slave.name,
    from: fault.started - (ctx.intervalMs + IN_FLIGHT_SLACK_MS),
    to: fault.confirmed + IN_FLIGHT_SLACK_MS,
    bound: `from interval ${ctx.intervalMs} + in-flight slack ${IN_FLIGHT_SLACK_MS} ms before the start, to the confirmation + ${IN_FLIGHT_SLACK_MS} ms`,
    incarnation: incarnationAt(slave, fault.started)?.index,
    evenWithAcks: false,
  });
  addRecovery(plan, fault, slave, st.paused ? 'the slave is paused' : undefined);
}

/**
 * The messages a lasting fault (a cut, a pause, a degraded link that may
 * disconnect) may take: from just before it began until just after its end,
 * or the run's end, when nothing could be resent.
 */
function addLastingWindow(plan: PlanDraft, fault: Fault, slave: SlaveModel, end: Fault | undefined): void {
  plan.windows.push({
    fault,
    name: slave.name,
    from: fault.started - IN_FLIGHT_SLACK_MS,
    to: end === undefined ? plan.ctx.runEnd : end.confirmed + CUT_RECOVERY_SLACK_MS,
    evenWithAcks: end === undefined,
    bound: `from in-flight slack ${IN_FLIGHT_SLACK_MS} ms before the start, to ${
      end === undefined ? "the run's end" : `its end's confirmation + cut recovery slack ${CUT_RECOVERY_SLACK_MS} ms`
    }`,
  });
}
