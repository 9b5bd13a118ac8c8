/**
 * Disconnect matching: per node, each disconnect expectation takes the first
 * fitting master `disconnect` between its fault's start and the next
 * expectation's, of a connection that was already open when the fault began.
 */
import type { Failure, Inconclusive } from '../check-result';
import { connKey, iso, rel, type RunContext } from './context';
import { faultText } from './faults';
import type { MasterDisconnect, MasterModel } from './master';
import type { Expectation } from './plan';
import type { SlaveModel, SlavesModel } from './slaves';
import { slowConfirmation, timing, unjudged, type Outcome } from './timing';

export interface DisconnectMatching {
  /** Per disconnect expectation that took a disconnect or was judged without one. */
  readonly outcomes: ReadonlyMap<Expectation, Outcome>;
  /** The master's disconnects some expectation took. */
  readonly matched: ReadonlySet<MasterDisconnect>;
  readonly failures: readonly Failure[];
  readonly inconclusive: readonly Inconclusive[];
}

interface Matching {
  readonly ctx: RunContext;
  readonly master: MasterModel;
  readonly outcomes: Map<Expectation, Outcome>;
  readonly matched: Set<MasterDisconnect>;
  readonly failures: Failure[];
  readonly inconclusive: Inconclusive[];
}

export function matchDisconnects(
  ctx: RunContext,
  slaves: SlavesModel,
  master: MasterModel,
  expectations: readonly Expectation[],
): DisconnectMatching {
  const out: Matching = { ctx, master, outcomes: new Map(), matched: new Set(), failures: [], inconclusive: [] };
  for (const slave of slaves.list) {
    const own = expectations
      .filter((e) => e.slave === slave && e.check === 'disconnect' && e.expect !== 'none')
      .sort((a, b) => a.from - b.from || a.fault.ref.index - b.fault.ref.index);
    const disconnects = master.disconnects
      .filter((d) => d.node === slave.node && !d.duplicate)
      .sort((a, b) => a.at - b.at);
    own.forEach((e, i) => {
      const horizon = own.slice(i + 1).find((later) => later.from > e.from)?.from ?? Infinity;
      const candidates = disconnects.filter(
        (d) =>
          !out.matched.has(d) &&
          d.at >= e.from &&
          d.at < horizon &&
          (e.oldMaster === undefined
            ? connOpenedBefore(master, d, e.from)
            : d.masterIncarnation === e.oldMaster.incarnation),
      );
      const fitting = candidates.find((c) => e.reasons.includes(c.reason) && inTime(e, c));
      // A `may` takes only a disconnect that fits; anything else is left to be judged as spurious.
      const d = e.expect === 'may' ? fitting : (fitting ?? candidates[0]);
      if (d === undefined) noDisconnect(out, slave, e);
      else judgeMatch(out, slave, e, d);
    });
  }
  const { outcomes, matched, failures, inconclusive } = out;
  return { outcomes, matched, failures, inconclusive };
}

function connOpenedBefore(master: MasterModel, d: MasterDisconnect, at: number): boolean {
  if (d.conn === undefined) return true;
  const info = master.conns.get(connKey(d.masterIncarnation, d.conn));
  return info === undefined || info.openedAt < at;
}

/** In time: within the bound, or, at a master restart, before the old master's shutdown line. */
function inTime(e: Expectation, d: MasterDisconnect): boolean {
  if (e.oldMaster === undefined) return timing(e, d.at) !== 'late';
  const { shutdownIndex } = e.oldMaster;
  return shutdownIndex === undefined || d.index < shutdownIndex;
}

function noDisconnect(out: Matching, slave: SlaveModel, e: Expectation): void {
  if (e.expect !== 'must') return;
  const expected = `expected reason ${e.reasons.join('|')} by ${rel(out.ctx, e.deadline)}`;
  if (timing(e, undefined) === 'unknown') {
    out.outcomes.set(e, { status: unjudged(e.base.status) });
    out.inconclusive.push(slowConfirmation(out.ctx, e, `no disconnect logged; ${expected}`));
    return;
  }
  out.failures.push({
    node: slave.name,
    kind: 'missing_disconnect',
    fault: e.fault.ref.index,
    detail: `${slave.name} (${slave.node}): no disconnect logged for the ${faultText(e.fault)}; ${expected}`,
  });
}

function judgeMatch(out: Matching, slave: SlaveModel, e: Expectation, d: MasterDisconnect): void {
  const { ctx } = out;
  out.matched.add(d);
  const latencyMs = d.at - e.fault.started;
  const seen = { at: iso(d.at), latencyMs, reason: d.reason, conn: d.conn };
  let status: Outcome['status'] = 'pass';
  if (!e.reasons.includes(d.reason)) {
    status = 'fail';
    out.failures.push({
      node: slave.name,
      kind: 'wrong_reason',
      fault: e.fault.ref.index,
      detail: `${slave.name} (${slave.node}): disconnect at ${rel(ctx, d.at)} for the ${faultText(e.fault)} has reason "${
        d.reason
      }"; expected ${e.reasons.join('|')}`,
    });
  }
  const late = (bound: string): void => {
    status = 'fail';
    out.failures.push({
      node: slave.name,
      kind: 'late_disconnect',
      fault: e.fault.ref.index,
      detail: `${slave.name} (${d.node}): disconnect for the ${faultText(e.fault)} logged at ${rel(ctx, d.at)}, ${bound}`,
    });
  };
  if (e.oldMaster !== undefined) {
    const { shutdownIndex } = e.oldMaster;
    if (shutdownIndex !== undefined && d.index > shutdownIndex) {
      late(`after the master's shutdown line (${rel(ctx, e.deadline)})`);
    }
  } else {
    const t = timing(e, d.at);
    if (t === 'unknown') {
      status = unjudged(status);
      out.inconclusive.push(slowConfirmation(ctx, e, `disconnect logged at ${rel(ctx, d.at)}`));
    } else if (t === 'late') {
      late(`${latencyMs} ms after the fault began, beyond the bound ${rel(ctx, e.deadline)}`);
    }
  }
  out.outcomes.set(e, { status, seen });
}
