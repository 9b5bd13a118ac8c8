/**
 * The master's connections and the disconnects no fault took: exactly one
 * `disconnect` per connection of a slave node, none that matches no fault.
 */
import type { Failure } from '../check-result';
import { rel, type RunContext } from './context';
import { END_OF_RUN_REASONS } from './fault-rules';
import {
  connOf,
  endingDisconnects,
  slaveOfConn,
  type ConnInfo,
  type MasterDisconnect,
  type MasterModel,
} from './master';
import type { Expectation } from './plan';
import type { SlaveModel, SlavesModel } from './slaves';
import type { Outcome } from './timing';

/**
 * A second `disconnect` of one connection is a failure, and so is a
 * connection (a `connect` line, then a message from a slave) that is never
 * logged as ended by the end of its master's log — its `shutdown` line, or the
 * end of master.jsonl. A connection whose fault already failed as
 * `missing_disconnect` is not reported twice.
 */
export function checkConnections(
  ctx: RunContext,
  slaves: SlavesModel,
  master: MasterModel,
  expectations: readonly Expectation[],
  outcomes: ReadonlyMap<Expectation, Outcome>,
): Failure[] {
  const failures: Failure[] = [];
  const shutdownIndex = new Map<number, number>();
  for (const s of master.shutdowns) {
    if (!shutdownIndex.has(s.masterIncarnation)) shutdownIndex.set(s.masterIncarnation, s.index);
  }
  for (const info of master.conns.values()) {
    const slave = slaveOfConn(slaves, info);
    if (slave === undefined) continue;
    const where = `conn ${info.conn} (master incarnation ${info.masterIncarnation})`;
    const [first, ...extra] = endingDisconnects(info);
    for (const d of extra) {
      failures.push({
        node: slave.name,
        kind: 'duplicated_disconnect',
        detail: `${slave.name} (${slave.node}): ${where} logged a disconnect again at ${rel(ctx, d.at)} (reason "${
          d.reason
        }"), after the one at ${rel(ctx, first?.at ?? NaN)} (reason "${first?.reason ?? '?'}")`,
      });
    }
    if (!info.hasConnectLine || info.slaveNode === undefined) continue;
    const end = shutdownIndex.get(info.masterIncarnation);
    // A restarted master's late disconnects are judged by its master-restart expectations.
    const lastMaster = info.masterIncarnation === master.lastIncarnation;
    if (first !== undefined && (end === undefined || first.index < end || !lastMaster)) continue;
    if (missingReported(slave, info, expectations, outcomes)) continue;
    failures.push({
      node: slave.name,
      kind: 'missing_disconnect',
      detail: `${slave.name} (${slave.node}): ${where}, opened at ${rel(ctx, info.openedAt)}, ${
        first === undefined
          ? 'has no disconnect line after its last message'
          : `logged its disconnect only after the master's shutdown line (${rel(ctx, first.at)})`
      }`,
    });
  }
  return failures;
}

/** Whether a fault's expectation already failed for want of this connection's disconnect. */
function missingReported(
  slave: SlaveModel,
  info: ConnInfo,
  expectations: readonly Expectation[],
  outcomes: ReadonlyMap<Expectation, Outcome>,
): boolean {
  return expectations.some((e) => {
    const outcome = outcomes.get(e);
    return (
      e.slave === slave &&
      e.check === 'disconnect' &&
      e.expect === 'must' &&
      (outcome?.status ?? e.base.status) !== 'pass' &&
      outcome?.seen === undefined &&
      e.from >= info.openedAt &&
      (e.oldMaster === undefined || e.oldMaster.incarnation === info.masterIncarnation)
    );
  });
}

export interface UnmatchedDisconnects {
  readonly failures: readonly Failure[];
  /** Disconnects of connections that never named a slave node. */
  readonly otherConnections: number;
  /** Disconnects of the run's end. */
  readonly endOfRunDisconnects: number;
}

/**
 * A `timeout` of a connection whose last message the master logged no
 * earlier than one interval before the run's end: the slave beat until the
 * runner stopped it, and a stopping slave beats no more (it waits for its
 * acks, then closes). A detector quicker than that wait, phi at 1.5 s after
 * the last frame against slaves stopping by the thousand, times it out.
 */
function silencedByTheStop(ctx: RunContext, master: MasterModel, d: MasterDisconnect): boolean {
  if (d.reason !== 'timeout') return false;
  const lastMessageAt = connOf(master, d)?.lastMessageAt;
  return lastMessageAt !== undefined && lastMessageAt >= ctx.scenarioEnd - ctx.intervalMs;
}

/** Judges each disconnect no expectation took: refused, the run's end, someone else's, or spurious. */
export function judgeUnmatchedDisconnects(
  ctx: RunContext,
  slaves: SlavesModel,
  master: MasterModel,
  matched: ReadonlySet<MasterDisconnect>,
): UnmatchedDisconnects {
  const failures: Failure[] = [];
  let otherConnections = 0;
  let endOfRunDisconnects = 0;
  for (const d of master.disconnects) {
    if (d.reason === 'auth_failed') {
      failures.push({
        node: d.node,
        kind: 'auth_failed',
        detail: `${d.node}: conn ${d.conn ?? '?'} refused at ${rel(ctx, d.at)} (auth_failed, ${
          d.code ?? 'no code'
        }): a peer without the run's token, or with another`,
      });
      continue;
    }
    if (matched.has(d)) continue;
    const slave = slaves.byNode.get(d.node);
    // Reported by checkConnections as duplicated_disconnect.
    if (d.duplicate && (slave ?? slaveOfConn(slaves, connOf(master, d))) !== undefined) continue;
    if (slave === undefined) {
      otherConnections += 1;
      continue;
    }
    const lastMaster = d.reason === 'shutdown' && d.masterIncarnation === master.lastIncarnation;
    const ofTheEnd = END_OF_RUN_REASONS.includes(d.reason) || silencedByTheStop(ctx, master, d);
    if (lastMaster || (d.at >= ctx.scenarioEnd && ofTheEnd)) {
      endOfRunDisconnects += 1;
      continue;
    }
    failures.push({
      node: slave.name,
      kind: 'spurious_disconnect',
      detail: `${slave.name} (${slave.node}): disconnect at ${rel(ctx, d.at)} (reason "${d.reason}", conn ${
        d.conn ?? '?'
      }, seq ${d.seq ?? '?'}) matches no fault`,
    });
  }
  return { failures, otherConnections, endOfRunDisconnects };
}
