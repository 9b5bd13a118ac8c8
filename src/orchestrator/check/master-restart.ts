/**
 * A master restart's expectations: every connection the old master held must
 * end with `shutdown` before its shutdown line, and every running slave must
 * be seen again by the new master.
 */
import { IN_FLIGHT_SLACK_MS } from './context';
import { addExpectation, addRecovery, type EffectWindow, type PlanDraft, type SlaveState } from './plan';
import { FAULT_RULES } from './fault-rules';
import type { Fault } from './faults';
import type { MasterMark, MasterModel } from './master';
import { slaveConnectedAt, type SlavesModel } from './slaves';

export function masterRestartPlan(
  plan: PlanDraft,
  fault: Fault,
  slaves: SlavesModel,
  master: MasterModel,
  state: ReadonlyMap<string, SlaveState>,
): void {
  const { listenings, shutdowns, firstMessageAt } = master;
  let old: MasterMark | undefined;
  for (const l of listenings) if (l.at <= fault.started) old = l;
  const oldIncarnation = old?.masterIncarnation ?? 0;
  const shutdown = shutdowns.find((s) => s.masterIncarnation === oldIncarnation && s.at >= fault.started);
  const next = listenings.find((l) => l.masterIncarnation === oldIncarnation + 1);
  for (const slave of slaves.list) {
    const st = state.get(slave.name) as SlaveState;
    const must = st.alive && !st.cut && !st.paused && slaveConnectedAt(slave, fault.started);
    // Any connection the old master still held must end with `shutdown`, wanted or not.
    const byShutdown = shutdown?.at ?? Infinity;
    const window: EffectWindow = {
      from: fault.requested,
      deadline: byShutdown,
      strictDeadline: byShutdown,
      bound: "before the old master's shutdown line",
    };
    addExpectation(plan, fault, slave, {
      check: 'disconnect',
      expect: must ? 'must' : 'may',
      window,
      reasons: FAULT_RULES[fault.action].disconnectReasons,
      oldMaster: { incarnation: oldIncarnation, shutdownIndex: shutdown?.index },
      note: must ? undefined : 'the slave was not connected: a shutdown disconnect is allowed, not required',
    });
    if (st.alive) {
      // The first message of the node logged after the new master's `listening` line.
      const firstAfter =
        next === undefined
          ? undefined
          : [...(firstMessageAt.get(slave.node) ?? [])].find(([inc]) => inc >= next.masterIncarnation)?.[1];
      plan.windows.push({
        fault,
        name: slave.name,
        from: fault.started - IN_FLIGHT_SLACK_MS,
        to: firstAfter ?? plan.ctx.runEnd,
        evenWithAcks: next === undefined,
        bound: `from in-flight slack ${IN_FLIGHT_SLACK_MS} ms before the start, to ${
          firstAfter === undefined ? "the run's end" : "the node's first message logged by the new master"
        }`,
      });
    }
    const skip = !st.alive
      ? 'the slave is not running'
      : st.cut || st.paused
        ? 'the slave is cut off or paused'
        : undefined;
    addRecovery(plan, fault, slave, skip, next?.at ?? fault.requested);
  }
}
