/**
 * The messages: every one a slave sent must be logged once by the master,
 * unless a fault (or the run's end, or the slave's own full outbox) excuses
 * it; every one the master logged must have been sent.
 */
import type { ExcusedMessage, Failure, FaultRef, SentLineLost } from '../check-result';
import type { LogTally, SentView } from '../sent-log';
import type { Unexplained } from './attribution';
import { CLOCK_SKEW_MS, IN_FLIGHT_SLACK_MS, iso, rel, type RunContext } from './context';
import { FAULT_RULES, RUN_END_LOSSY_REASONS } from './fault-rules';
import { endingDisconnects, type ConnInfo, type MasterModel } from './master';
import type { Window } from './plan';
import type { Incarnation, SlaveModel, SlavesModel } from './slaves';

/** Why a message may be lost: a fault, the last master stopping, or the slave dropping it from its outbox. */
export type ExcuseCause = { kind: 'fault'; window: Window } | { kind: 'run-end' } | { kind: 'dropped' };

interface Excuse {
  readonly cause: ExcuseCause;
  readonly from: number;
  readonly to: number;
  readonly bound: string;
}

export interface UnexplainedJudgement {
  readonly failures: readonly Failure[];
  readonly sentLinesLost: readonly SentLineLost[];
  /** Per slave name, how many logged messages none of its processes sent. */
  readonly unexpectedByName: ReadonlyMap<string, number>;
}

/**
 * A logged message no `sent` line explains is unexpected, unless a kill
 * explains it: a slave writes its `sent` line just after the frame, and a
 * SIGKILL between the two takes the line with the process. Such messages
 * are the seqs right after the process's last `sent` one, the same kind of
 * message with the same text, logged within the kill's in-flight window.
 */
export function judgeUnexplained(
  ctx: RunContext,
  unexplained: readonly Unexplained[],
  windows: readonly Window[],
): UnexplainedJudgement {
  const failures: Failure[] = [];
  const sentLinesLost: SentLineLost[] = [];
  const unexpectedByName = new Map<string, number>();
  const tails = new Map<Incarnation, number>();
  for (const { m, slave, inc } of unexplained) {
    const lastSent = inc === undefined || inc.sent.size === 0 ? undefined : inc.sent.view(inc.sent.size - 1);
    const next = inc === undefined ? undefined : (tails.get(inc) ?? lastSent?.seq ?? 0) + 1;
    const kill =
      slave === undefined || inc === undefined || lastSent === undefined || m.seq !== next
        ? undefined
        : windows.find(
            (w) =>
              FAULT_RULES[w.fault.action].losesSentLines &&
              w.name === slave.name &&
              w.incarnation === inc.index &&
              m.at >= w.from &&
              m.at <= w.to + CLOCK_SKEW_MS,
          );
    if (
      kill !== undefined &&
      inc !== undefined &&
      m.type === lastSent?.type &&
      m.text === `Received message: ${lastSent.text}`
    ) {
      tails.set(inc, m.seq as number);
      sentLinesLost.push({
        node: slave?.name ?? m.node,
        incarnation: inc.index,
        seq: m.seq as number,
        fault: kill.fault.ref,
      });
      continue;
    }
    let why: string;
    if (slave === undefined) why = `from node "${m.node}", which is no slave of this run`;
    else if (m.seq === undefined) why = `without a seq from ${slave.name}`;
    else if (slave.incarnations.some((i) => i.sent.has(m.seq as number)))
      why = `seq ${m.seq} from ${slave.name}, which its process on this connection did not send before then`;
    else why = `seq ${m.seq} from ${slave.name}, which it never sent`;
    if (slave !== undefined) unexpectedByName.set(slave.name, (unexpectedByName.get(slave.name) ?? 0) + 1);
    failures.push({
      node: slave?.name ?? m.node,
      kind: 'unexpected',
      seq: m.seq,
      detail: `master logged a ${m.type} message ${why} (on conn ${m.conn ?? '?'} at ${rel(ctx, m.at)})`,
    });
  }
  return { failures, sentLinesLost, unexpectedByName };
}

/** What the message judgement reads besides the models. */
export interface MessageInputs {
  readonly ctx: RunContext;
  readonly slaves: SlavesModel;
  readonly master: MasterModel;
  readonly windows: readonly Window[];
  readonly tallies: ReadonlyMap<Incarnation, LogTally>;
  readonly conns: ReadonlyMap<Incarnation, ReadonlySet<string>>;
}

export interface MessageJudgement {
  readonly failures: readonly Failure[];
  readonly excused: readonly ExcusedMessage[];
}

/** Each sent message: logged more than once is a failure; never logged, a failure unless excused. */
export function judgeMessages(input: MessageInputs): MessageJudgement {
  const { ctx, slaves, tallies } = input;
  const failures: Failure[] = [];
  const excused: ExcusedMessage[] = [];
  const runEnd = runEndExcuse(ctx, input.master);
  for (const slave of slaves.list) {
    for (const inc of slave.incarnations) {
      const tally = tallies.get(inc);
      for (let pos = 0; pos < inc.sent.size; pos += 1) {
        const logCount = tally?.logCount(pos) ?? 0;
        if (logCount > 1) {
          const seq = inc.sent.seqAt(pos);
          const times = (tally as LogTally).loggedAt(pos).map((at) => rel(ctx, at));
          failures.push({
            node: slave.name,
            kind: 'duplicated',
            seq,
            incarnation: inc.index,
            detail: `${slave.name} seq ${seq} (incarnation ${inc.index}) logged ${logCount} times, at ${times.join(', ')}`,
          });
        }
        if (logCount > 0) continue;
        const sent = inc.sent.view(pos);
        const excuse = excuseOf(input, runEnd, slave, inc, sent);
        if (excuse !== undefined) {
          excused.push({
            node: slave.name,
            nodeId: slave.node,
            incarnation: inc.index,
            seq: sent.seq,
            sentAt: iso(sent.at),
            fault: faultRefOf(ctx, excuse.cause, slave, sent),
            window: { from: iso(excuse.from), to: iso(excuse.to), bound: excuse.bound },
          });
          continue;
        }
        failures.push({
          node: slave.name,
          kind: 'missing',
          seq: sent.seq,
          incarnation: inc.index,
          detail: `${slave.name} seq ${sent.seq} (incarnation ${inc.index}, ${sent.type}) sent at ${rel(
            ctx,
            sent.at,
          )} never logged by the master`,
        });
      }
    }
  }
  return { failures, excused };
}

function excuseOf(
  input: MessageInputs,
  runEnd: Excuse,
  slave: SlaveModel,
  inc: Incarnation,
  sent: SentView,
): Excuse | undefined {
  const window = input.windows.find(
    (w) =>
      w.name === slave.name &&
      sent.at >= w.from &&
      sent.at <= w.to &&
      (w.incarnation === undefined || w.incarnation === inc.index) &&
      (w.evenWithAcks || !inc.acks),
  );
  if (window !== undefined)
    return { cause: { kind: 'fault', window }, from: window.from, to: window.to, bound: window.bound };
  const dropped = droppedExcuse(input.master, slave, inc, sent);
  if (dropped !== undefined) return dropped;
  // With acks, the run's end loses nothing: slaves stop first and wait for their acks.
  if (!inc.acks && sent.at >= runEnd.from && mayBeLostAtRunEnd(input, slave, inc, sent)) return runEnd;
  return undefined;
}

/** The report's reference to an excuse's cause: a timeline entry, or the run-end (-1) and dropped (-2) markers. */
function faultRefOf(ctx: RunContext, cause: ExcuseCause, slave: SlaveModel, sent: SentView): FaultRef {
  switch (cause.kind) {
    case 'fault':
      return cause.window.fault.ref;
    case 'run-end':
      return { index: -1, action: 'run-end', target: 'master', atMs: ctx.info.durationMs };
    case 'dropped':
      return { index: -2, action: 'dropped', target: slave.name, atMs: sent.at - ctx.runStart };
  }
}

/** Messages sent as the last master stops can't be logged by it. */
function runEndExcuse(ctx: RunContext, master: MasterModel): Excuse {
  const last = master.shutdowns.find((s) => s.masterIncarnation === master.lastIncarnation);
  return {
    cause: { kind: 'run-end' },
    from: (last?.at ?? ctx.runEnd) - IN_FLIGHT_SLACK_MS,
    // Open-ended; shown as the run's end.
    to: ctx.runEnd,
    bound: `from in-flight slack ${IN_FLIGHT_SLACK_MS} ms before the last master's shutdown, to the run's end`,
  };
}

/**
 * A message the slave dropped unacked from its full outbox is lost by
 * design, provided the master said so: a `gap` line of the same process
 * covering its seq (a new process numbers from 1 again).
 */
function droppedExcuse(master: MasterModel, slave: SlaveModel, inc: Incarnation, sent: SentView): Excuse | undefined {
  if (!inc.dropped.has(sent.seq)) return undefined;
  const gaps = master.gaps.get(slave.node) ?? [];
  if (!gaps.some((gap) => gap.boot === inc.boot && gap.from <= sent.seq && sent.seq <= gap.to)) return undefined;
  return {
    cause: { kind: 'dropped' },
    from: sent.at,
    to: sent.at,
    bound: 'the message itself: dropped by the slave, logged as a gap by the master',
  };
}

/**
 * Whether a message sent just before the last master stopped may have died
 * with it. Not when the master logged a later seq of the node in a
 * disconnect, nor when the connection it went out on ended with a clean FIN
 * (`closed`): TCP delivers everything written before the FIN. Only a
 * connection the master itself closed (`shutdown`) or that failed (`reset`)
 * can lose it — or one the master never tied to this process.
 */
function mayBeLostAtRunEnd(input: MessageInputs, slave: SlaveModel, inc: Incarnation, sent: SentView): boolean {
  const { master } = input;
  const next = slave.incarnations[inc.index]?.startedAt ?? Infinity;
  const laterSeq = master.disconnects.some(
    (d) => d.node === slave.node && d.at >= sent.at && d.at < next && d.seq !== undefined && d.seq >= sent.seq,
  );
  if (laterSeq) return false;
  // The connection it went out on: the latest one carrying this process's messages, opened before it was sent.
  let conn: ConnInfo | undefined;
  for (const key of input.conns.get(inc) ?? []) {
    const info = master.conns.get(key);
    if (info === undefined || info.openedAt > sent.at + CLOCK_SKEW_MS) continue;
    if (conn === undefined || info.openedIndex > conn.openedIndex) conn = info;
  }
  const ended = conn === undefined ? undefined : endingDisconnects(conn)[0];
  if (conn === undefined || (ended !== undefined && ended.at < sent.at - CLOCK_SKEW_MS)) return true;
  return ended !== undefined && RUN_END_LOSSY_REASONS.includes(ended.reason);
}
