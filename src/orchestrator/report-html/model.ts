/**
 * The data step of `report.html`: what the page draws, built from a run
 * directory's logs and the check report. The slaves' and the master's logs
 * are read through the checker's own first phases (the slaves' `sent` lines
 * into columns of numbers, the master's log twice, a line at a time), so a
 * message is tied to the process that sent it exactly as the checker ties it,
 * and nothing is held per line but those columns. What the page gets is
 * compact: per slave either each logged message or, when a lane is dense,
 * bands of messages per time bucket ({@link laneMessages}).
 */
import { ACTION_SPECS, actionsEndedBy } from '../actions';
import { attributeMessages, modelMaster, modelSlaves, runContext } from '../check';
import type { CheckReport } from '../check-result';
import { readRunLog } from '../run-logs';
import type { Action, RunLogEntry, RunSource, TimelineEntry } from '../types';
import { laneMessages, type LaneMessages, type LoggedMessage } from './messages';

/** The master's lane; every slave's lane is named after it (`slave-3`). */
export const MASTER_LANE = 'master';

/** One slave's lane. Times in the model are ms from the run's start. */
export interface SlaveLane {
  /** Scenario name (`slave-3`). */
  name: string;
  /** The node id the master logs it under. */
  node: string;
  /** Its sent messages the master logged at least once (as the per-node table's LOGGED). */
  logged: number;
  messages: LaneMessages;
}

/** A fault of the timeline (an entry that ends none): from its request to what ended it. */
export interface FaultWindow {
  /** 0-based index in timeline.jsonl. */
  index: number;
  action: Action;
  target: string;
  /** {@link MASTER_LANE} for a master fault, else the target slave. */
  lane: string;
  requestedMs: number;
  /** Unset when it was never confirmed (`error` says why, when the runner knew). */
  confirmedMs?: number;
  /** When its effect ended: its ending's confirmation, the run's end, or, for a fault nothing ends, its confirmation. */
  endMs: number;
  /** The timeline entry that ended it (`#4 reconnect`), if any. */
  endedBy?: { index: number; action: Action };
  /** A fault that nothing ends (a kill with no start still lasts): drawn at least 2 px wide. */
  instant: boolean;
  error?: string;
}

/** A `disconnect` line of the master. */
export interface DisconnectMark {
  /** The slave's lane, or {@link MASTER_LANE} for a node that is no slave of the run. */
  lane: string;
  /** The node id as the master logged it. */
  node: string;
  reason: string;
  atMs: number;
  conn?: number;
  /** Matched to a fault's expectation: the fault's index and the detection latency the checker measured. */
  fault?: number;
  detectionMs?: number;
  /** When the fault it was matched to was confirmed (the start of the detection latency). */
  faultConfirmedMs?: number;
}

/** A failure of the report, where the diagram shows it. */
export interface FailureMark {
  /** Index in `report.failures`. */
  index: number;
  lane: string;
  atMs: number;
}

export interface HtmlModel {
  /** The run's start, ms since the epoch: time 0 of the diagram. */
  startEpochMs: number;
  /** The run's length in ms (at least 1). */
  spanMs: number;
  lanes: SlaveLane[];
  faults: FaultWindow[];
  disconnects: DisconnectMark[];
  /** When the master (each incarnation) began listening and when it shut down. */
  masterMarks: Array<{ kind: 'listening' | 'shutdown'; atMs: number }>;
  failures: FailureMark[];
}

/** How many failures the page lists and marks; report.json has them all. */
export const MAX_PAGE_FAILURES = 1000;

const isEnding = (action: Action): boolean => actionsEndedBy(action).length > 0;

/** The timeline's faults as windows: each paired with the first later entry that ends it on the same target. */
export function faultWindows(
  timeline: readonly TimelineEntry[],
  startEpochMs: number,
  spanMs: number,
  slaveNames: ReadonlySet<string>,
): FaultWindow[] {
  const rel = (iso: string | undefined): number | undefined => {
    const ms = iso === undefined ? NaN : Date.parse(iso);
    return Number.isFinite(ms) ? ms - startEpochMs : undefined;
  };
  const windows: FaultWindow[] = [];
  timeline.forEach((entry, index) => {
    if (isEnding(entry.action)) return;
    const spec = ACTION_SPECS[entry.action];
    const requestedMs = rel(entry.requestedAt ?? entry.startedAt) ?? entry.atMs;
    const confirmedMs = rel(entry.confirmedAt);
    const endedBy =
      spec.endedBy === undefined
        ? undefined
        : timeline.findIndex((e, i) => i > index && e.action === spec.endedBy && e.target === entry.target);
    const ending = endedBy === undefined || endedBy < 0 ? undefined : (timeline[endedBy] as TimelineEntry);
    const endMs =
      ending !== undefined
        ? (rel(ending.confirmedAt) ?? rel(ending.requestedAt ?? ending.startedAt) ?? spanMs)
        : spec.endedBy !== undefined
          ? spanMs
          : (confirmedMs ?? requestedMs);
    windows.push({
      index,
      action: entry.action,
      target: entry.target,
      lane: spec.target === 'master' || !slaveNames.has(entry.target) ? MASTER_LANE : entry.target,
      requestedMs,
      ...(confirmedMs === undefined ? {} : { confirmedMs }),
      endMs: Math.max(endMs, requestedMs),
      ...(ending === undefined ? {} : { endedBy: { index: endedBy as number, action: ending.action } }),
      instant: spec.endedBy === undefined,
      ...(entry.error === undefined ? {} : { error: entry.error }),
    });
  });
  return windows;
}

/** `+1.234s` in a failure's detail: the first time it names. */
const DETAIL_TIME = /(?:^|[\s(])([+-]\d+\.\d{3})s\b/;

/**
 * Where each failure (of the first {@link MAX_PAGE_FAILURES}) is drawn: at
 * the first time its detail names (the checker writes them as `+1.234s`),
 * else at its message's send time, else at its fault's confirmation; a
 * failure with none of these has no marker.
 */
export function failureMarks(
  report: CheckReport,
  laneNames: ReadonlySet<string>,
  sentAt: (node: string, incarnation: number, seq: number) => number | undefined,
  faults: readonly FaultWindow[],
): FailureMark[] {
  const marks: FailureMark[] = [];
  report.failures.slice(0, MAX_PAGE_FAILURES).forEach((f, index) => {
    const inDetail = DETAIL_TIME.exec(f.detail)?.[1];
    const fault = f.fault === undefined ? undefined : faults.find((w) => w.index === f.fault);
    const atMs =
      inDetail !== undefined
        ? Number(inDetail) * 1000
        : f.seq !== undefined && f.incarnation !== undefined
          ? sentAt(f.node, f.incarnation, f.seq)
          : (fault?.confirmedMs ?? fault?.requestedMs);
    if (atMs === undefined || !Number.isFinite(atMs)) return;
    marks.push({ index, lane: laneNames.has(f.node) ? f.node : MASTER_LANE, atMs });
  });
  return marks;
}

/** The master's disconnect lines, each with the detection latency of the expectation it was matched to. */
function disconnectMarks(
  report: CheckReport,
  disconnects: ReadonlyArray<{ at: number; node: string; reason: string; conn: number | undefined }>,
  laneOf: (node: string) => string | undefined,
  startEpochMs: number,
): DisconnectMark[] {
  const seen = new Map<string, (typeof report.expectations)[number]>();
  for (const e of report.expectations) {
    if (e.check === 'disconnect' && e.seen !== undefined) seen.set(`${e.nodeId}@${Date.parse(e.seen.at)}`, e);
  }
  return disconnects.map((d) => {
    const e = seen.get(`${d.node}@${d.at}`);
    const confirmed = e?.fault.confirmedAt === undefined ? NaN : Date.parse(e.fault.confirmedAt);
    return {
      lane: laneOf(d.node) ?? MASTER_LANE,
      node: d.node,
      reason: d.reason,
      atMs: d.at - startEpochMs,
      ...(d.conn === undefined ? {} : { conn: d.conn }),
      ...(e === undefined
        ? {}
        : {
            fault: e.fault.index,
            detectionMs: e.seen?.latencyMs,
            ...(Number.isFinite(confirmed) ? { faultConfirmedMs: confirmed - startEpochMs } : {}),
          }),
    };
  });
}

type SlavesModel = ReturnType<typeof modelSlaves>['slaves'];
type Tallies = ReturnType<typeof attributeMessages>['tallies'];

/** Each slave's lane, its messages drawn one by one or in bands; `latest` is the last time a message was logged. */
function slaveLanes(
  slaves: SlavesModel,
  tallies: Tallies,
  startEpochMs: number,
  spanMs: number,
): { lanes: SlaveLane[]; latestMs: number } {
  let latestMs = -Infinity;
  const lanes = slaves.list.map((slave): SlaveLane => {
    const visit = (fn: (m: LoggedMessage) => void): void => {
      for (const inc of slave.incarnations) {
        const tally = tallies.get(inc);
        if (tally === undefined) continue;
        for (let pos = 0; pos < inc.sent.size; pos += 1) {
          if (tally.logCount(pos) === 0) continue;
          const loggedMs = (tally.loggedAt(pos)[0] as number) - startEpochMs;
          const sentMs = inc.sent.sentAtOf(pos) - startEpochMs;
          latestMs = Math.max(latestMs, loggedMs);
          fn({ seq: inc.sent.seqAt(pos), incarnation: inc.index, sentMs, loggedMs });
        }
      }
    };
    const messages = laneMessages(visit, { spanMs, lanes: slaves.list.length });
    return { name: slave.name, node: slave.node, logged: messages.count, messages };
  });
  return { lanes, latestMs };
}

/**
 * Builds the page's model from a run (as `openRunDirectory` opens it: the
 * logs are streamed) and its check report. The diagram spans the run, from
 * `run.json`'s start to its end, or to the last thing logged if later.
 */
export function buildHtmlModel(source: RunSource, report: CheckReport): HtmlModel {
  const { ctx } = runContext(source.info);
  const startEpochMs = ctx.runStart;
  const slaveLogs: Record<string, Iterable<RunLogEntry<'slave'>>> = {};
  for (const [name, log] of Object.entries(source.slaves)) slaveLogs[name] = readRunLog(log, 'slave');
  const masterLog = readRunLog(source.master, 'master');
  const { slaves } = modelSlaves(source.info, slaveLogs);
  const { master } = modelMaster(masterLog, slaves);
  const { tallies } = attributeMessages(ctx, masterLog, slaves, master, []);
  const names = new Set(slaves.list.map((s) => s.name));
  const runSpanMs = Math.max(1, ctx.runEnd - ctx.runStart);
  const { lanes, latestMs } = slaveLanes(slaves, tallies, startEpochMs, runSpanMs);
  const disconnects = disconnectMarks(report, master.disconnects, (n) => slaves.byNode.get(n)?.name, startEpochMs);
  const masterMarks = [
    ...master.listenings.map((m) => ({ kind: 'listening' as const, atMs: m.at - startEpochMs })),
    ...master.shutdowns.map((m) => ({ kind: 'shutdown' as const, atMs: m.at - startEpochMs })),
  ];
  let spanMs = Math.max(runSpanMs, latestMs);
  for (const mark of [...disconnects, ...masterMarks]) spanMs = Math.max(spanMs, mark.atMs);
  const faults = faultWindows(source.timeline, startEpochMs, spanMs, names);
  const sentAt = (node: string, incarnation: number, seq: number): number | undefined => {
    const inc = slaves.byName.get(node)?.incarnations[incarnation - 1];
    const pos = inc?.sent.find(seq) ?? -1;
    return inc === undefined || pos < 0 ? undefined : inc.sent.sentAtOf(pos) - startEpochMs;
  };
  return {
    startEpochMs,
    spanMs,
    lanes,
    faults,
    disconnects,
    masterMarks,
    // A failure's time may lie past the run (a deadline): its mark stays on the diagram's edge.
    failures: failureMarks(report, names, sentAt, faults).map((f) => ({
      ...f,
      atMs: Math.min(spanMs, Math.max(0, f.atMs)),
    })),
  };
}
