/**
 * The model of the slaves: ground truth, read once from their own logs (a
 * line at a time: a log may be far larger than memory). Each slave is a list
 * of incarnations (processes), each with its `sent` lines. The lines are read
 * through the log contract: a field is read only on the event that has it.
 */
import { opensConnection, type ReadSlaveLine } from '../../protocol';
import type { Inconclusive } from '../check-result';
import { SentLog } from '../sent-log';
import type { RunInfo, RunLogEntry } from '../types';
import { int, parseTime } from './context';

export interface Incarnation {
  /** 1-based: the slave's first process is incarnation 1. */
  readonly index: number;
  readonly startedAt: number;
  /** Its `sent` lines; read only once the model is built. */
  readonly sent: SentLog;
  /** It asked for acks: it resends what was not acked, so only a kill may lose messages. */
  readonly acks: boolean;
  /** The process id its `starting` line gave (`boot`), which the master's `gap` lines name. */
  readonly boot: string | undefined;
  /** Seqs it dropped unacked from a full outbox (its `dropped` lines). */
  readonly dropped: ReadonlySet<number>;
}

export interface SlaveModel {
  readonly name: string;
  readonly node: string;
  readonly incarnations: readonly Incarnation[];
  /** Connection state per the slave's own log, in order. */
  readonly states: ReadonlyArray<{ readonly at: number; readonly connected: boolean }>;
}

export interface SlavesModel {
  /** In run.json's order. */
  readonly list: readonly SlaveModel[];
  readonly byNode: ReadonlyMap<string, SlaveModel>;
  readonly byName: ReadonlyMap<string, SlaveModel>;
}

interface IncarnationDraft {
  index: number;
  startedAt: number;
  sent: SentLog;
  acks: boolean;
  boot: string | undefined;
  dropped: Set<number>;
}

/** Reads every slave's log once into the model; what makes the record unusable is inconclusive. */
export function modelSlaves(
  info: RunInfo,
  logs: Readonly<Record<string, Iterable<RunLogEntry<'slave'>>>>,
): { slaves: SlavesModel; inconclusive: Inconclusive[] } {
  const inconclusive: Inconclusive[] = [];
  const list: SlaveModel[] = [];
  const byNode = new Map<string, SlaveModel>();
  const byName = new Map<string, SlaveModel>();
  for (const [name, node] of Object.entries(info.nodes)) {
    const twin = byNode.get(node);
    if (twin !== undefined) {
      inconclusive.push({
        node: name,
        kind: 'invalid_run',
        detail: `${name} and ${twin.name} share node id "${node}"`,
      });
    }
    const model = readSlave(name, node, logs[name] ?? [], inconclusive);
    list.push(model);
    byNode.set(node, model);
    byName.set(name, model);
  }
  for (const name of Object.keys(logs).filter((n) => !(n in info.nodes))) {
    inconclusive.push({ node: name, kind: 'invalid_run', detail: `${name}: has a log but is not in run.json nodes` });
  }
  if (list.length === 0) {
    inconclusive.push({ node: 'run', kind: 'invalid_run', detail: 'run.json names no slave nodes: nothing to check' });
  } else if (list.every((s) => s.incarnations.every((inc) => inc.sent.size === 0))) {
    inconclusive.push({ node: 'run', kind: 'invalid_run', detail: 'no slave sent a message: nothing to check' });
  }
  return { slaves: { list, byNode, byName }, inconclusive };
}

function readSlave(
  name: string,
  node: string,
  lines: Iterable<RunLogEntry<'slave'>>,
  problems: Inconclusive[],
): SlaveModel {
  const incarnations: IncarnationDraft[] = [];
  const states: Array<{ at: number; connected: boolean }> = [];
  let current: IncarnationDraft | undefined;
  let i = 0;
  for (const { line, record } of lines) {
    const where = `${name}.jsonl line ${i + 1}`;
    i += 1;
    // Any line, of a known event or not, has a time, and may be the first of a process.
    const at = parseTime(record.timestamp, where, problems);
    if (line?.event === 'starting' || current === undefined) {
      // A log that begins mid-process (no `starting`) still is one incarnation.
      const starting = line?.event === 'starting' ? line : undefined;
      current = {
        index: incarnations.length + 1,
        startedAt: at,
        sent: new SentLog(),
        acks: starting?.acks === true,
        boot: starting?.boot,
        dropped: new Set(),
      };
      incarnations.push(current);
    }
    switch (line?.event) {
      case 'sent':
        readSent(name, where, current, line, record, at, problems);
        break;
      case 'dropped': {
        const seq = int(line.seq);
        if (seq !== undefined) current.dropped.add(seq);
        break;
      }
      case 'connected':
        states.push({ at, connected: true });
        break;
      case 'starting':
      case 'disconnected':
      case 'stopped':
        states.push({ at, connected: false });
        break;
    }
  }
  if (i === 0) problems.push({ node: name, kind: 'invalid_run', detail: `${name}: its log is missing or empty` });
  return { name, node, incarnations, states };
}

function readSent(
  name: string,
  where: string,
  current: IncarnationDraft,
  line: Extract<ReadSlaveLine, { event: 'sent' }>,
  record: RunLogEntry<'slave'>['record'],
  at: number,
  problems: Inconclusive[],
): void {
  const seq = int(line.seq);
  // On the line as written: a `seq` of another type than a number still makes it no opening hello.
  if (opensConnection(record)) {
    current.acks = true;
  } else if (seq === undefined || seq < 1) {
    problems.push({ node: name, kind: 'invalid_run', detail: `${where}: sent without a seq` });
  } else if (current.sent.has(seq)) {
    problems.push({
      node: name,
      kind: 'invalid_run',
      seq,
      incarnation: current.index,
      detail: `${where}: seq ${seq} sent twice in incarnation ${current.index}`,
    });
  } else {
    current.sent.add(seq, at, line.type ?? 'unknown', line.message);
  }
}

/**
 * Whether the slave's own log says it had a connection just before `at`.
 * Strictly before: a stopped slave writes `stopped` in the very ms the fault began.
 */
export function slaveConnectedAt(slave: SlaveModel, at: number): boolean {
  let connected = false;
  for (const state of slave.states) {
    if (state.at >= at) break;
    connected = state.connected;
  }
  return connected;
}

/** The process of `slave` that ran at `at`: the latest started by then. */
export function incarnationAt(slave: SlaveModel, at: number): Incarnation | undefined {
  let found: Incarnation | undefined;
  for (const inc of slave.incarnations) if (inc.startedAt <= at) found = inc;
  return found;
}

/** Position in `inc`'s sent log of `seq` if it was sent by `at` (master time, give or take the skew). */
export function sentBy(inc: Incarnation, at: number, seq: number | undefined, skewMs: number): number | undefined {
  if (seq === undefined) return undefined;
  const pos = inc.sent.find(seq);
  return pos >= 0 && inc.sent.sentAtOf(pos) <= at + skewMs ? pos : undefined;
}
