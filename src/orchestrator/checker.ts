/**
 * The checker: decides from a recorded run whether the master logged every
 * message and every disconnect it should have.
 *
 * Ground truth is what the slaves wrote (their `sent` lines) and what the
 * runner did (the timeline); the master's log is only ever what is checked.
 * A message is keyed by (slave, incarnation, seq): a slave process numbers its
 * messages 1, 2, 3 … across reconnects, and a process started again (after a
 * kill, a stop, a restart) is a new incarnation that starts again at 1.
 *
 * A slave that asks for acks (its hello says `acks: true`) resends what was
 * not acked after any reconnect, and the master logs each message once: for
 * it, nothing is excused as in flight but what a `kill` took with the process
 * and what a fault still active at the run's end kept from being resent.
 *
 * No clock, and no I/O of its own: it reads the logs through the `RunSource`
 * it is given, either in memory (`readRunDirectory`) or streamed from the
 * files (`openRunDirectory`, run-directory.ts), reading the master's log
 * twice; report.ts formats the output.
 */
import { SentLog, type SentView } from './sent-log';
import { CONFIRM_LIMIT_MS, cutBound, killBound, recoveryBound, type Bound } from './bounds';
import {
  isRunLevel,
  type CheckReport,
  type ExcusedMessage,
  type ExpectationResult,
  type Failure,
  type FailureKind,
  type FaultRef,
  type Inconclusive,
  type LatencySummary,
  type MessageRef,
  type NodeRow,
  type SentLineLost,
  type Verdict,
} from './check-result';
import type { Action, RunLogLine, RunSource } from './types';

export { KILL_DETECT_MS } from './bounds';

/**
 * Messages sent up to this long before a fault began (plus one heartbeat
 * interval for kill/stop/restart), or after it was confirmed, may be lost with
 * the connection: a killed container's network namespace goes away with
 * frames still in its socket buffer; a cut swallows what was on the wire.
 */
export const IN_FLIGHT_SLACK_MS = 500;

/**
 * After a cut or a pause ends, a slave may go on writing into a connection the
 * master already dropped until a write is refused or it reads the master's FIN;
 * messages it sends meanwhile are lost. In flight until the end plus this.
 */
export const CUT_RECOVERY_SLACK_MS = 2000;

/**
 * How far the master's timestamp for a message may precede the slave's `sent`
 * line for it: a slave stamps `sent` just after the write, and the two
 * processes read the clock separately (containers share the host's clock).
 */
export const CLOCK_SKEW_MS = 250;

export type { RunLogLine, RunRecord, RunSource } from './types';

/** The report's types live apart from the checks; importers of the checker get them here too. */
export * from './check-result';

// ---------------------------------------------------------------------------
// The model built from the record.

interface Incarnation {
  index: number;
  startedAt: number;
  /** Its `sent` lines, and how often the master logged each. */
  sent: SentLog;
  /** Connections (master incarnation + conn) that carried its messages. */
  conns: Set<string>;
  /** It asked for acks: it resends what was not acked, so only a kill may lose messages. */
  acks: boolean;
  /** The process id its `starting` line gave (`boot`), which the master's `gap` lines name. */
  boot: string | undefined;
  /** Seqs it dropped unacked from a full outbox (its `dropped` lines). */
  dropped: Set<number>;
}

interface SlaveModel {
  name: string;
  node: string;
  lineCount: number;
  incarnations: Incarnation[];
  /** Connection state per the slave's own log, in order. */
  states: Array<{ at: number; connected: boolean }>;
}

/** A master `message` line, while it is read; kept only when no `sent` line explains it. */
interface MasterMessage {
  index: number;
  at: number;
  node: string;
  seq: number | undefined;
  type: string;
  /** The line's `message`: `Received message: <text>`. */
  text: string | undefined;
  conn: number | undefined;
}

/** The messages of one connection from one node: they all belong to one slave process. */
interface MessageGroup {
  /** Line index of its first message: groups are judged in this order. */
  first: number;
  /** The slave whose node id the messages name. */
  slave: SlaveModel | undefined;
  /** Per incarnation (0-based), how many of its messages that process sent before they were logged. */
  scores: number[];
  best?: Incarnation;
}

interface MasterDisconnect {
  index: number;
  at: number;
  masterIncarnation: number;
  node: string;
  reason: string;
  /** The line's `code`, when it has one (why an `auth_failed` connection was refused). */
  code: string | undefined;
  conn: number | undefined;
  seq: number | undefined;
  matched: boolean;
  /**
   * Logged after the connection's first `disconnect` that no message on it
   * follows: reported as `duplicated_disconnect`, never matched to a fault.
   */
  duplicate: boolean;
}

/** A logged message no `sent` line explains, with the slave and process its connection belongs to. */
interface Unexplained {
  m: MasterMessage;
  slave?: SlaveModel;
  inc?: Incarnation;
}

interface ConnInfo {
  openedAt: number;
  openedIndex: number;
  hasConnectLine: boolean;
  closedAt?: number;
  conn: number;
  masterIncarnation: number;
  /** Every `disconnect` line of this connection, in log order. */
  disconnects: MasterDisconnect[];
  /** Line index of its last `message` (-1: none). A disconnect before it did not end the connection. */
  lastMessageIndex: number;
  /** The slave node id a `message` line on it named, if any. */
  slaveNode?: string;
}

interface MasterMark {
  index: number;
  at: number;
  masterIncarnation: number;
}

interface MasterModel {
  /** By `<master incarnation>:<conn>:<node>`; messages without a conn are each a group of their own, not kept. */
  groups: Map<string, MessageGroup>;
  /** Slave node id -> master incarnation -> when it logged its first message from that node. */
  firstMessageAt: Map<string, Map<number, number>>;
  /** Node id -> the seq ranges its `gap` lines reported, each for one slave process (`boot`). */
  gaps: Map<string, Array<{ boot: string; from: number; to: number }>>;
  disconnects: MasterDisconnect[];
  conns: Map<string, ConnInfo>;
  listenings: MasterMark[];
  shutdowns: MasterMark[];
  lastIncarnation: number;
}

interface Fault {
  ref: FaultRef;
  /** When the schedule called for it. */
  requested: number;
  /** When the harness began applying it. */
  started: number;
  confirmed: number;
  /** Confirmed beyond {@link CONFIRM_LIMIT_MS} after its request: its timing cannot be judged. */
  slow: boolean;
}

interface Expectation {
  result: ExpectationResult;
  fault: Fault;
  name: string;
  from: number;
  deadline: number;
  /** The bound counted from the request rather than the confirmation: an effect by then is in time, however slow the confirmation. */
  strictDeadline: number;
  /** Master-restart: the disconnect must come from this master incarnation, before this line. */
  masterIncarnation?: number;
  beforeIndex?: number;
  group: keyof CheckReport['latency'];
}

/** Where and until when a fault's effect is looked for. */
interface EffectWindow {
  from: number;
  /** The fault's confirmation + its bound. */
  deadline: number;
  /** The fault's request + its bound. */
  strictDeadline: number;
  /** How `deadline` was derived, for reports. */
  bound: string;
}

/** What the checker knows of a slave while it walks the timeline. */
interface SlaveState {
  alive: boolean;
  cut: boolean;
  paused: boolean;
  /** When its current or latest cut or pause began: what it sent since may wait in its outbox. */
  disruptedFrom?: number;
  /** When that cut or pause ended; after it, the slave resends. */
  recoveredAt?: number;
}

interface Window {
  fault: FaultRef;
  name: string;
  from: number;
  to: number;
  /** Only messages of this incarnation (a kill breaks only the process it kills). */
  incarnation?: number;
  /**
   * Whether it excuses the messages of a slave that asked for acks too: only
   * when the process died unclean (a kill; a stop while it could not reach
   * the master) or a fault outlasted the run, so nothing could be resent.
   */
  evenWithAcks: boolean;
  /** How `from` and `to` were derived, for reports. */
  bound: string;
}

const KILL_REASONS = ['closed', 'reset'];
const END_OF_RUN_REASONS = ['closed', 'reset', 'shutdown'];
/** How a connection may end at the run's end and lose what was last sent on it (not `closed`: a FIN follows the data). */
const RUN_END_LOSSY_REASONS = ['shutdown', 'reset'];

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const int = (value: unknown): number | undefined => (Number.isSafeInteger(value) ? (value as number) : undefined);
const connKey = (masterIncarnation: number, conn: number): string => `${masterIncarnation}:${conn}`;
/** A hello that asked for acks: it opens a connection and is no numbered message. */
const isOpening = (line: RunLogLine): boolean => line.type === 'hello' && line.acks === true && line.seq === undefined;
const iso = (ms: number): string => (Number.isFinite(ms) ? new Date(ms).toISOString() : 'never');

/** A connection's `disconnect` lines after its last message: the first ended it, any other is a duplicate. */
function endingDisconnects(info: ConnInfo): MasterDisconnect[] {
  return info.disconnects.filter((d) => d.index > info.lastMessageIndex);
}

/** Percentile by nearest rank; null for no values. */
function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? null;
}

function summarize(values: readonly number[]): LatencySummary {
  return {
    count: values.length,
    p50Ms: percentile(values, 50),
    // A loop, not Math.max(...values): a spread of a long array overflows the stack.
    maxMs: values.reduce<number | null>((max, v) => (max === null || Number.isNaN(v) || v > max ? v : max), null),
  };
}

/** Compresses sorted seqs to `3, 7-9, 12`. */
export function seqRanges(seqs: readonly number[]): string {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j += 1;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

/**
 * Checks a recorded run. Odd content that can be judged becomes a failure
 * (`invalid_run` when the run cannot be judged); a log line that is not JSON,
 * met while streaming, throws `RunDirectoryError` as reading it would have.
 */
export function checkRun(input: RunSource): CheckReport {
  return new Checker(input).run();
}

class Checker {
  private readonly failures: Failure[] = [];
  private readonly inconclusive: Inconclusive[] = [];
  private readonly excused: ExcusedMessage[] = [];
  private readonly expectations: Expectation[] = [];
  private readonly windows: Window[] = [];
  private readonly slaves: SlaveModel[] = [];
  private readonly slaveByNode = new Map<string, SlaveModel>();
  private readonly slaveByName = new Map<string, SlaveModel>();
  private readonly unexpectedByName = new Map<string, number>();
  /** Logged messages no `sent` line explains, with the slave and process their connection belongs to. */
  private readonly unexplained: Unexplained[] = [];
  private readonly sentLinesLost: SentLineLost[] = [];
  /** Per recovery that must be seen: the first message that shows the node again. */
  private readonly sightings = new Map<Expectation, MasterMessage>();
  private master!: MasterModel;
  private readonly runStart: number;
  private readonly runEnd: number;
  private readonly scenarioEnd: number;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly input: RunSource) {
    const { info } = input;
    this.runStart = this.time(info.startedAt, 'run.json startedAt');
    this.runEnd = this.time(info.endedAt, 'run.json endedAt');
    // The runner tears the cluster down (slaves, then the master) once the scenario's duration is over,
    // or as soon as the run is interrupted.
    const interruptedAt =
      info.interrupted === undefined ? Infinity : this.time(info.interrupted.at, 'run.json interrupted.at');
    this.scenarioEnd = Math.min(this.runStart + info.durationMs, this.runEnd, interruptedAt);
    this.intervalMs = info.heartbeatIntervalMs;
    this.timeoutMs = info.heartbeatTimeoutMs;
  }

  run(): CheckReport {
    const { info } = this.input;
    if (info.interrupted !== undefined) {
      const { signal, at } = info.interrupted;
      this.cannotJudge({
        node: 'run',
        kind: 'interrupted',
        detail: `the run was interrupted (${signal}) at ${this.rel(Date.parse(at))}, before its end at ${this.rel(
          this.runStart + info.durationMs,
        )}: what its teardown did is not the master's doing`,
      });
    }
    this.buildSlaves();
    this.master = this.buildMaster();
    const faults = this.buildFaults();
    this.buildExpectations(faults);
    // A second reading of the master's log: it needs the connections and the recoveries to look for.
    this.attributeMessages();
    this.judgeUnexplained();
    this.matchDisconnects();
    this.checkConnections();
    this.checkRecoveries();
    this.judgeMessages();

    const latency: CheckReport['latency'] = {
      killStop: summarize(this.latencies('killStop')),
      cutPause: summarize(this.latencies('cutPause')),
      masterRestart: summarize(this.latencies('masterRestart')),
    };
    const { otherConnections, endOfRunDisconnects } = this.judgeUnmatchedDisconnects();
    const { failures, inconclusive } = this;
    // A definite failure outweighs one check that cannot be judged, not a run that cannot be.
    const verdict: Verdict = inconclusive.some(isRunLevel)
      ? 'inconclusive'
      : failures.length > 0
        ? 'fail'
        : inconclusive.length > 0
          ? 'inconclusive'
          : 'pass';
    return {
      verdict,
      scenario: info.scenario,
      backend: info.backend,
      startedAt: info.startedAt,
      endedAt: info.endedAt,
      heartbeatIntervalMs: this.intervalMs,
      heartbeatTimeoutMs: this.timeoutMs,
      nodes: this.slaves.map((slave) => this.nodeRow(slave)),
      expectations: this.expectations.map((e) => e.result),
      failures,
      inconclusive,
      interrupted: info.interrupted,
      excused: this.excused,
      sentLinesLost: this.sentLinesLost,
      latency,
      otherConnections,
      endOfRunDisconnects,
    };
  }

  // -- helpers ---------------------------------------------------------------

  private fail(failure: Failure): void {
    this.failures.push(failure);
  }

  private cannotJudge(what: Inconclusive): void {
    this.inconclusive.push(what);
  }

  private time(value: unknown, where: string): number {
    const ms = typeof value === 'string' ? Date.parse(value) : NaN;
    if (Number.isNaN(ms)) {
      this.cannotJudge({
        node: 'run',
        kind: 'invalid_run',
        detail: `${where}: timestamp ${JSON.stringify(value)} is not ISO`,
      });
    }
    return ms;
  }

  /** `+1.540s` from the start of the run: easier to follow than ISO in a list. */
  private rel(ms: number): string {
    if (!Number.isFinite(ms)) return 'never';
    const s = (ms - this.runStart) / 1000;
    return `${s < 0 ? '-' : '+'}${Math.abs(s).toFixed(3)}s`;
  }

  // -- the slaves: ground truth ----------------------------------------------

  private buildSlaves(): void {
    const { info, slaves } = this.input;
    for (const [name, node] of Object.entries(info.nodes)) {
      const lines = slaves[name];
      const twin = this.slaveByNode.get(node);
      if (twin !== undefined) {
        this.cannotJudge({
          node: name,
          kind: 'invalid_run',
          detail: `${name} and ${twin.name} share node id "${node}"`,
        });
      }
      const model: SlaveModel = { name, node, lineCount: 0, incarnations: [], states: [] };
      this.slaves.push(model);
      this.slaveByNode.set(node, model);
      this.slaveByName.set(name, model);
      let current: Incarnation | undefined;
      // Read once, a line at a time: a log may be far larger than memory.
      for (const line of lines ?? []) {
        const i = model.lineCount++;
        const at = this.time(line.timestamp, `${name}.jsonl line ${i + 1}`);
        if (line.event === 'starting' || current === undefined) {
          // A log that begins mid-process (no `starting`) still is one incarnation.
          current = {
            index: model.incarnations.length + 1,
            startedAt: at,
            sent: new SentLog(),
            conns: new Set(),
            acks: line.event === 'starting' && line.acks === true,
            boot: line.event === 'starting' ? str(line.boot) : undefined,
            dropped: new Set(),
          };
          model.incarnations.push(current);
        }
        switch (line.event) {
          case 'sent': {
            const seq = int(line.seq);
            if (line.type === 'hello' && line.acks === true && line.seq === undefined) {
              current.acks = true;
            } else if (seq === undefined || seq < 1) {
              this.cannotJudge({
                node: name,
                kind: 'invalid_run',
                detail: `${name}.jsonl line ${i + 1}: sent without a seq`,
              });
            } else if (current.sent.has(seq)) {
              this.cannotJudge({
                node: name,
                kind: 'invalid_run',
                seq,
                incarnation: current.index,
                detail: `${name}.jsonl line ${i + 1}: seq ${seq} sent twice in incarnation ${current.index}`,
              });
            } else {
              current.sent.add(seq, at, str(line.type) ?? 'unknown', str(line.message));
            }
            break;
          }
          case 'dropped': {
            const seq = int(line.seq);
            if (seq !== undefined) current.dropped.add(seq);
            break;
          }
          case 'connected':
            model.states.push({ at, connected: true });
            break;
          case 'starting':
          case 'disconnected':
          case 'stopped':
            model.states.push({ at, connected: false });
            break;
        }
      }
      if (model.lineCount === 0) {
        this.cannotJudge({ node: name, kind: 'invalid_run', detail: `${name}: its log is missing or empty` });
      }
    }
    const extra = Object.keys(slaves).filter((name) => !(name in info.nodes));
    for (const name of extra) {
      this.cannotJudge({ node: name, kind: 'invalid_run', detail: `${name}: has a log but is not in run.json nodes` });
    }
    if (this.slaves.length === 0) {
      this.cannotJudge({ node: 'run', kind: 'invalid_run', detail: 'run.json names no slave nodes: nothing to check' });
    } else if (this.slaves.every((s) => s.incarnations.every((inc) => inc.sent.size === 0))) {
      this.cannotJudge({ node: 'run', kind: 'invalid_run', detail: 'no slave sent a message: nothing to check' });
    }
  }

  /**
   * Whether the slave's own log says it had a connection just before `at`.
   * Strictly before: a stopped slave writes `stopped` in the very ms the fault began.
   */
  private slaveConnectedAt(slave: SlaveModel, at: number): boolean {
    let connected = false;
    for (const state of slave.states) {
      if (state.at >= at) break;
      connected = state.connected;
    }
    return connected;
  }

  private incarnationAt(slave: SlaveModel, at: number): Incarnation | undefined {
    let found: Incarnation | undefined;
    for (const inc of slave.incarnations) if (inc.startedAt <= at) found = inc;
    return found;
  }

  // -- the master: what is checked -------------------------------------------

  private buildMaster(): MasterModel {
    const model: MasterModel = {
      groups: new Map(),
      firstMessageAt: new Map(),
      gaps: new Map(),
      disconnects: [],
      conns: new Map(),
      listenings: [],
      shutdowns: [],
      lastIncarnation: 0,
    };
    let incarnation = 0;
    let index = -1;
    for (const line of this.input.master) {
      index += 1;
      const at = this.time(line.timestamp, `master.jsonl line ${index + 1}`);
      const conn = int(line.conn);
      const touch = (): ConnInfo | undefined => {
        if (conn === undefined) return undefined;
        const key = connKey(incarnation, conn);
        let info = model.conns.get(key);
        if (info === undefined) {
          info = {
            openedAt: at,
            openedIndex: index,
            hasConnectLine: false,
            conn,
            masterIncarnation: incarnation,
            disconnects: [],
            lastMessageIndex: -1,
          };
          model.conns.set(key, info);
        }
        return info;
      };
      switch (line.event) {
        case 'listening':
          incarnation += 1;
          model.listenings.push({ index, at, masterIncarnation: incarnation });
          break;
        case 'shutdown':
          model.shutdowns.push({ index, at, masterIncarnation: incarnation });
          break;
        case 'connect': {
          const info = touch();
          if (info !== undefined) info.hasConnectLine = true;
          break;
        }
        case 'message': {
          const info = touch();
          const node = str(line.node) ?? '(none)';
          if (info !== undefined) {
            info.lastMessageIndex = index;
            if (info.slaveNode === undefined && this.slaveByNode.has(node)) info.slaveNode = node;
          }
          this.firstMessage(model, node, incarnation, at);
          if (conn !== undefined && !isOpening(line))
            this.score(model, node, `${connKey(incarnation, conn)}:${node}`, index, at, int(line.seq));
          break;
        }
        case 'gap': {
          const from = int(line.from);
          const to = int(line.to);
          const node = str(line.node);
          const boot = str(line.boot);
          if (from === undefined || to === undefined || node === undefined || boot === undefined) break;
          const gaps = model.gaps.get(node) ?? [];
          gaps.push({ boot, from, to });
          model.gaps.set(node, gaps);
          break;
        }
        case 'disconnect': {
          const info = touch();
          if (info !== undefined && info.closedAt === undefined) info.closedAt = at;
          const d: MasterDisconnect = {
            index,
            at,
            masterIncarnation: incarnation,
            node: str(line.node) ?? '(none)',
            reason: str(line.reason) ?? '(none)',
            code: str(line.code),
            conn,
            seq: int(line.seq),
            matched: false,
            duplicate: false,
          };
          info?.disconnects.push(d);
          model.disconnects.push(d);
          break;
        }
      }
    }
    model.lastIncarnation = incarnation;
    for (const group of model.groups.values()) group.best = this.bestOf(group.slave, group.scores);
    // A disconnect that messages on the same connection follow is judged as spurious (or matched) as any other.
    for (const info of model.conns.values()) {
      for (const d of endingDisconnects(info).slice(1)) d.duplicate = true;
    }
    if (model.listenings.length === 0) {
      this.cannotJudge({ node: 'master', kind: 'invalid_run', detail: 'master.jsonl has no "listening" line' });
    }
    return model;
  }

  private firstMessage(model: MasterModel, node: string, masterIncarnation: number, at: number): void {
    if (!this.slaveByNode.has(node)) return;
    let byIncarnation = model.firstMessageAt.get(node);
    if (byIncarnation === undefined) model.firstMessageAt.set(node, (byIncarnation = new Map()));
    if (!byIncarnation.has(masterIncarnation)) byIncarnation.set(masterIncarnation, at);
  }

  /** Counts, for the message's group, each process of its node that sent it before it was logged. */
  private score(model: MasterModel, node: string, key: string, index: number, at: number, seq?: number): void {
    let group = model.groups.get(key);
    if (group === undefined) {
      group = { first: index, slave: this.slaveByNode.get(node), scores: [] };
      model.groups.set(key, group);
    }
    const incarnations = group.slave?.incarnations ?? [];
    for (let k = 0; k < incarnations.length; k += 1) {
      if (this.sentBefore(incarnations[k] as Incarnation, at, seq) >= 0) group.scores[k] = (group.scores[k] ?? 0) + 1;
    }
  }

  /** The process that sent most of a group's messages before they were logged (the latest on a tie). */
  private bestOf(slave: SlaveModel | undefined, scores: readonly number[]): Incarnation | undefined {
    let best: Incarnation | undefined;
    let bestScore = 0;
    for (const inc of slave?.incarnations ?? []) {
      const score = scores[inc.index - 1] ?? 0;
      if (score > 0 && score >= bestScore) {
        best = inc;
        bestScore = score;
      }
    }
    return best;
  }

  /** Position in `inc`'s sent log of `seq` if it was sent by `at` (master time, give or take the skew); -1 if not. */
  private sentBefore(inc: Incarnation, at: number, seq: number | undefined): number {
    const pos = seq === undefined ? -1 : inc.sent.find(seq);
    return pos >= 0 && inc.sent.sentAtOf(pos) <= at + CLOCK_SKEW_MS ? pos : -1;
  }

  /**
   * Ties each logged message to the slave incarnation that sent it. A
   * connection belongs to one process, so all messages of one connection go to
   * one incarnation: the one that sent most of them before they were logged
   * (the latest on a tie, since a new process repeats its predecessor's seqs),
   * as counted in the first reading. Reads the master's log again, keeping
   * nothing per line but what a check must explain; findings are reported in
   * the order of the groups' first messages, then of the log.
   */
  private attributeMessages(): void {
    const found: Array<{ first: number; index: number; failure?: Failure; unexplained?: Unexplained }> = [];
    const outOfOrder: Failure[] = [];
    const highest = new Map<Incarnation, number>();
    const recoveries = new Map<string, Expectation[]>();
    for (const e of this.expectations) {
      if (e.result.check !== 'recovery' || e.result.expect !== 'must') continue;
      const own = recoveries.get(e.result.nodeId);
      if (own === undefined) recoveries.set(e.result.nodeId, [e]);
      else own.push(e);
    }
    let masterIncarnation = 0;
    let index = -1;
    for (const line of this.input.master) {
      index += 1;
      if (line.event === 'listening') masterIncarnation += 1;
      if (line.event !== 'message') continue;
      const m: MasterMessage = {
        index,
        at: typeof line.timestamp === 'string' ? Date.parse(line.timestamp) : NaN,
        node: str(line.node) ?? '(none)',
        seq: int(line.seq),
        type: str(line.type) ?? 'unknown',
        text: str(line.message),
        conn: int(line.conn),
      };
      this.lookForRecoveries(recoveries.get(m.node), m, masterIncarnation);
      if (isOpening(line)) continue;
      const key = m.conn === undefined ? undefined : connKey(masterIncarnation, m.conn);
      const group = key === undefined ? undefined : this.master.groups.get(`${key}:${m.node}`);
      const slave = group === undefined ? this.slaveByNode.get(m.node) : group.slave;
      const inc = group === undefined ? this.bestOf(slave, this.singleScores(slave, m)) : group.best;
      const pos = inc === undefined ? -1 : this.sentBefore(inc, m.at, m.seq);
      const first = group?.first ?? index;
      if (inc === undefined || pos < 0) {
        found.push({ first, index, unexplained: { m, slave, inc } });
        continue;
      }
      const failure = this.checkContent(m, slave as SlaveModel, inc, pos);
      if (failure !== undefined) found.push({ first, index, failure });
      if (key !== undefined) inc.conns.add(key);
      if (inc.sent.markLogged(pos, m.at) > 1) continue;
      // In log order, so "lower than one logged before" means what it says.
      const top = highest.get(inc) ?? 0;
      if ((m.seq as number) < top) outOfOrder.push(this.outOfOrder(slave as SlaveModel, inc, m, top));
      else highest.set(inc, m.seq as number);
    }
    found.sort((a, b) => a.first - b.first || a.index - b.index);
    for (const x of found) {
      if (x.failure !== undefined) this.fail(x.failure);
      if (x.unexplained !== undefined) this.unexplained.push(x.unexplained);
    }
    for (const failure of outOfOrder) this.fail(failure);
  }

  /** A message without a conn is a group of its own: each process that sent it before it was logged scores 1. */
  private singleScores(slave: SlaveModel | undefined, m: MasterMessage): number[] {
    return (slave?.incarnations ?? []).map((inc) => (this.sentBefore(inc, m.at, m.seq) >= 0 ? 1 : 0));
  }

  private outOfOrder(slave: SlaveModel, inc: Incarnation, m: MasterMessage, top: number): Failure {
    return {
      node: slave.name,
      kind: 'out_of_order',
      seq: m.seq,
      incarnation: inc.index,
      detail: `${slave.name} seq ${m.seq} (incarnation ${inc.index}) logged at ${this.rel(m.at)} after seq ${top}`,
    };
  }

  /**
   * Notes `m` as the first sighting of each pending recovery of its node it
   * fits, and drops those from `pending`: a timeline of many faults must not
   * cost a look at each of them per line.
   */
  private lookForRecoveries(pending: Expectation[] | undefined, m: MasterMessage, masterIncarnation: number): void {
    if (pending === undefined || m.conn === undefined) return;
    const info = this.master.conns.get(connKey(masterIncarnation, m.conn));
    if (info === undefined) return;
    let kept = 0;
    for (const e of pending) {
      // A connection that outlived a short cut or pause: the master never lost the node.
      const mayKeep = e.fault.ref.action === 'reconnect' || e.fault.ref.action === 'unpause';
      const fits =
        !(m.at < e.from) &&
        ((m.type === 'hello' && info.hasConnectLine && info.openedAt >= e.from) ||
          (mayKeep && info.openedAt < e.from && (info.closedAt === undefined || info.closedAt >= e.from)));
      if (fits) this.sightings.set(e, m);
      else pending[kept++] = e;
    }
    pending.length = kept;
  }

  /**
   * A logged message no `sent` line explains is unexpected, unless a kill
   * explains it: a slave writes its `sent` line just after the frame, and a
   * SIGKILL between the two takes the line with the process. Such messages
   * are the seqs right after the process's last `sent` one, the same kind of
   * message with the same text, logged within the kill's in-flight window.
   */
  private judgeUnexplained(): void {
    const tails = new Map<Incarnation, number>();
    for (const { m, slave, inc } of this.unexplained) {
      const lastSent = inc === undefined || inc.sent.size === 0 ? undefined : inc.sent.view(inc.sent.size - 1);
      const next = inc === undefined ? undefined : (tails.get(inc) ?? lastSent?.seq ?? 0) + 1;
      const kill =
        slave === undefined || inc === undefined || lastSent === undefined || m.seq !== next
          ? undefined
          : this.windows.find(
              (w) =>
                w.fault.action === 'kill' &&
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
        this.sentLinesLost.push({
          node: slave?.name ?? m.node,
          incarnation: inc.index,
          seq: m.seq as number,
          fault: kill.fault,
        });
        continue;
      }
      this.unexpected(m, slave);
    }
  }

  private unexpected(m: MasterMessage, slave: SlaveModel | undefined): void {
    const where = `on conn ${m.conn ?? '?'} at ${this.rel(m.at)}`;
    let why: string;
    if (slave === undefined) why = `from node "${m.node}", which is no slave of this run`;
    else if (m.seq === undefined) why = `without a seq from ${slave.name}`;
    else if (slave.incarnations.some((inc) => inc.sent.has(m.seq as number)))
      why = `seq ${m.seq} from ${slave.name}, which its process on this connection did not send before then`;
    else why = `seq ${m.seq} from ${slave.name}, which it never sent`;
    if (slave !== undefined) this.unexpectedByName.set(slave.name, (this.unexpectedByName.get(slave.name) ?? 0) + 1);
    this.fail({
      node: slave?.name ?? m.node,
      kind: 'unexpected',
      seq: m.seq,
      detail: `master logged a ${m.type} message ${why} (${where})`,
    });
  }

  /** The master must log what the slave sent: its text after `Received message: `, and its type. */
  private checkContent(m: MasterMessage, slave: SlaveModel, inc: Incarnation, pos: number): Failure | undefined {
    const expected = inc.sent.expectedText(pos);
    const type = inc.sent.typeOf(pos);
    if ((expected === undefined || m.text === expected) && m.type === type) return undefined;
    const wrong: string[] = [];
    if (expected !== undefined && m.text !== expected) {
      wrong.push(`message ${JSON.stringify(m.text ?? null)}, expected ${JSON.stringify(expected)}`);
    }
    if (m.type !== type) wrong.push(`type "${m.type}", expected "${type}"`);
    const { name } = slave;
    return {
      node: name,
      kind: 'wrong_content',
      seq: m.seq,
      incarnation: inc.index,
      detail: `${name} seq ${m.seq} (incarnation ${inc.index}) logged at ${this.rel(m.at)} on conn ${
        m.conn ?? '?'
      } with ${wrong.join(' and ')}`,
    };
  }

  // -- the timeline ----------------------------------------------------------

  private buildFaults(): Fault[] {
    const faults: Fault[] = [];
    this.input.timeline.forEach((entry, index) => {
      const requestedAt = entry.requestedAt ?? entry.startedAt;
      const ref: FaultRef = {
        index,
        action: entry.action,
        target: entry.target,
        atMs: entry.atMs,
        requestedAt,
        confirmedAt: entry.confirmedAt,
      };
      const known = entry.action === 'master-restart' || this.slaveByName.has(entry.target);
      if (!known) {
        this.cannotJudge({
          node: entry.target,
          kind: 'invalid_run',
          fault: index,
          detail: `timeline entry ${index + 1} (${entry.action}) targets "${entry.target}", which is not in run.json nodes`,
        });
        return;
      }
      if (entry.error !== undefined || entry.confirmedAt === undefined) {
        this.cannotJudge({
          node: entry.target,
          kind: 'fault_not_confirmed',
          fault: index,
          detail: `${entry.action} of ${entry.target} at ${entry.atMs} ms was not carried out: ${entry.error ?? 'never confirmed'}`,
        });
        return;
      }
      const where = `timeline.jsonl line ${index + 1}`;
      const requested = this.time(requestedAt, `${where} requestedAt`);
      const started = this.time(entry.startedAt, `${where} startedAt`);
      const confirmed = this.time(entry.confirmedAt, `${where} confirmedAt`);
      faults.push({ ref, requested, started, confirmed, slow: confirmed - requested > CONFIRM_LIMIT_MS });
    });
    // The runner records a fault when it is confirmed; a slow one (a master restart) may be
    // recorded after one that began later. The model walks them in the order they began.
    return faults.sort((a, b) => a.started - b.started || a.ref.index - b.ref.index);
  }

  private addExpectation(
    fault: Fault,
    slave: SlaveModel,
    check: ExpectationResult['check'],
    expect: ExpectationResult['expect'],
    window: EffectWindow,
    extra: Partial<Pick<Expectation, 'masterIncarnation' | 'beforeIndex'>> & { reasons?: string[]; note?: string },
  ): void {
    const { from, deadline, strictDeadline, bound } = window;
    const action = fault.ref.action;
    const group: Expectation['group'] =
      action === 'master-restart'
        ? 'masterRestart'
        : action === 'disconnect' || action === 'pause'
          ? 'cutPause'
          : 'killStop';
    this.expectations.push({
      fault,
      name: slave.name,
      from,
      deadline,
      strictDeadline,
      group,
      masterIncarnation: extra.masterIncarnation,
      beforeIndex: extra.beforeIndex,
      result: {
        fault: fault.ref,
        node: slave.name,
        nodeId: slave.node,
        check,
        expect,
        reasons: extra.reasons,
        from: iso(from),
        deadline: iso(deadline),
        bound,
        status: expect === 'none' ? 'not_applicable' : expect === 'may' ? 'pass' : 'fail',
        note: extra.note,
      },
    });
  }

  /**
   * Where a fault's effect is looked for: from its request to its
   * confirmation plus `bound`, capped at `cap` (the run's end, for a node seen again).
   */
  private effectWindow(fault: Fault, b: Bound, cap = Infinity): EffectWindow {
    const capped = fault.confirmed + b.ms > cap ? `, capped at the run's end (${this.rel(cap)})` : '';
    return {
      from: fault.requested,
      deadline: Math.min(fault.confirmed + b.ms, cap),
      strictDeadline: Math.min(fault.requested + b.ms, cap),
      bound: `confirmation + ${b.derivation}${capped}`,
    };
  }

  /** Walks the timeline with each slave's state (alive, cut, paused) and sets what each fault must produce. */
  private buildExpectations(faults: readonly Fault[]): void {
    const state = new Map<string, SlaveState>(
      this.slaves.map((s) => [s.name, { alive: true, cut: false, paused: false }]),
    );
    const finalShutdown = this.master.shutdowns.find((s) => s.masterIncarnation === this.master.lastIncarnation);
    const masterEnd = finalShutdown?.at ?? this.runEnd;

    faults.forEach((fault, position) => {
      const { action, target } = fault.ref;
      const endOf = (ending: Action): Fault | undefined =>
        faults.slice(position + 1).find((f) => f.ref.action === ending && f.ref.target === target);

      if (action === 'master-restart') {
        this.masterRestart(fault, state);
        return;
      }
      const slave = this.slaveByName.get(target) as SlaveModel;
      const st = state.get(target) as SlaveState;
      const connected = this.slaveConnectedAt(slave, fault.started);
      const why = !st.alive
        ? 'the slave was not running'
        : st.cut
          ? 'the slave was already cut off'
          : st.paused
            ? 'the slave was paused'
            : !connected
              ? 'the slave had no connection then (its log)'
              : undefined;

      switch (action) {
        case 'kill':
        case 'stop':
        case 'restart': {
          const window = this.effectWindow(fault, killBound());
          if (why === undefined) {
            this.addExpectation(fault, slave, 'disconnect', 'must', window, { reasons: KILL_REASONS });
          } else {
            this.addExpectation(fault, slave, 'disconnect', 'none', window, { note: `no disconnect expected: ${why}` });
          }
          if (st.alive) {
            // With acks, a kill also takes what a cut or pause kept unacked, if the resend was not done yet.
            const unresent =
              st.disruptedFrom !== undefined &&
              (st.cut || st.paused || fault.started <= (st.recoveredAt ?? Infinity) + CUT_RECOVERY_SLACK_MS);
            const inFlight = `interval ${this.intervalMs} + in-flight slack ${IN_FLIGHT_SLACK_MS} ms before the start`;
            this.windows.push({
              fault: fault.ref,
              name: target,
              from: Math.min(
                fault.started - (this.intervalMs + IN_FLIGHT_SLACK_MS),
                unresent ? (st.disruptedFrom as number) - IN_FLIGHT_SLACK_MS : Infinity,
              ),
              to: fault.confirmed + IN_FLIGHT_SLACK_MS,
              bound: `from ${
                unresent
                  ? `${IN_FLIGHT_SLACK_MS} ms before the cut or pause whose messages were not resent yet, or `
                  : ''
              }${inFlight}, to the confirmation + ${IN_FLIGHT_SLACK_MS} ms`,
              incarnation: this.incarnationAt(slave, fault.started)?.index,
              // A clean stop waits for the acks of what was sent, when the master can be reached.
              evenWithAcks: action === 'kill' || why !== undefined,
            });
          }
          st.alive = action === 'restart';
          st.paused = false;
          // A new process starts with nothing unacked.
          st.disruptedFrom = undefined;
          if (action === 'restart') this.recovery(fault, slave, st.cut ? 'the slave is cut off' : undefined);
          break;
        }
        case 'start': {
          const skip = st.alive ? 'the slave was already running' : st.cut ? 'the slave is cut off' : undefined;
          st.alive = true;
          st.paused = false;
          this.recovery(fault, slave, skip);
          break;
        }
        case 'disconnect':
        case 'pause': {
          const end = endOf(action === 'disconnect' ? 'reconnect' : 'unpause');
          const b = cutBound(this.input.info);
          const window = this.effectWindow(fault, b);
          if (why === undefined) {
            // Surely in effect from its confirmation until its end began: the least it lasted.
            const lastsMs = (end?.started ?? masterEnd) - fault.confirmed;
            const must = lastsMs > b.ms;
            this.addExpectation(fault, slave, 'disconnect', must ? 'must' : 'may', window, {
              reasons: ['timeout'],
              note: `${action === 'disconnect' ? 'cut' : 'pause'} of at least ${lastsMs} ms ${
                must ? `> ${b.ms} ms: a timeout is required` : `≤ ${b.ms} ms: a timeout is allowed, not required`
              }`,
            });
          } else {
            this.addExpectation(fault, slave, 'disconnect', 'none', window, { note: `no disconnect expected: ${why}` });
          }
          if (st.alive) {
            this.windows.push({
              fault: fault.ref,
              name: target,
              from: fault.started - IN_FLIGHT_SLACK_MS,
              to: end === undefined ? this.runEnd : end.confirmed + CUT_RECOVERY_SLACK_MS,
              evenWithAcks: end === undefined,
              bound: `from in-flight slack ${IN_FLIGHT_SLACK_MS} ms before the start, to ${
                end === undefined
                  ? "the run's end"
                  : `its end's confirmation + cut recovery slack ${CUT_RECOVERY_SLACK_MS} ms`
              }`,
            });
          }
          if (st.alive && !st.cut && !st.paused) {
            st.disruptedFrom = fault.started;
            st.recoveredAt = undefined;
          }
          if (action === 'disconnect') st.cut = true;
          else if (st.alive) st.paused = true;
          break;
        }
        case 'reconnect':
        case 'unpause': {
          if (action === 'reconnect') st.cut = false;
          else st.paused = false;
          if (!st.cut && !st.paused) st.recoveredAt = fault.confirmed;
          const skip = !st.alive
            ? 'the slave is not running'
            : st.cut
              ? 'the slave is still cut off'
              : st.paused
                ? 'the slave is still paused'
                : undefined;
          this.recovery(fault, slave, skip);
          break;
        }
      }
    });
  }

  private masterRestart(fault: Fault, state: Map<string, SlaveState>): void {
    const { listenings, shutdowns, firstMessageAt } = this.master;
    let old: MasterMark | undefined;
    for (const l of listenings) if (l.at <= fault.started) old = l;
    const oldIncarnation = old?.masterIncarnation ?? 0;
    const shutdown = shutdowns.find((s) => s.masterIncarnation === oldIncarnation && s.at >= fault.started);
    const next = listenings.find((l) => l.masterIncarnation === oldIncarnation + 1);
    for (const slave of this.slaves) {
      const st = state.get(slave.name) as SlaveState;
      const connected = this.slaveConnectedAt(slave, fault.started);
      const must = st.alive && !st.cut && !st.paused && connected;
      // Any connection the old master still held must end with `shutdown`, wanted or not.
      const byShutdown = shutdown?.at ?? Infinity;
      const window: EffectWindow = {
        from: fault.requested,
        deadline: byShutdown,
        strictDeadline: byShutdown,
        bound: "before the old master's shutdown line",
      };
      this.addExpectation(fault, slave, 'disconnect', must ? 'must' : 'may', window, {
        reasons: ['shutdown'],
        masterIncarnation: oldIncarnation,
        beforeIndex: shutdown?.index ?? Infinity,
        note: must ? undefined : 'the slave was not connected: a shutdown disconnect is allowed, not required',
      });
      if (st.alive) {
        // The first message of the node logged after the new master's `listening` line.
        const firstAfter =
          next === undefined
            ? undefined
            : [...(firstMessageAt.get(slave.node) ?? [])].find(([inc]) => inc >= next.masterIncarnation)?.[1];
        this.windows.push({
          fault: fault.ref,
          name: slave.name,
          from: fault.started - IN_FLIGHT_SLACK_MS,
          to: firstAfter ?? this.runEnd,
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
      this.recovery(fault, slave, skip, next?.at ?? fault.requested);
    }
  }

  /**
   * After a recovery the node must be seen again: a `connect` then a `hello`
   * from it, both after the recovery began (the runner may confirm a start by
   * the hello itself, so not after its confirmation). When the master never
   * dropped the connection (a short cut or pause), any message on it will do.
   */
  private recovery(fault: Fault, slave: SlaveModel, skip: string | undefined, from = fault.requested): void {
    const window = { ...this.effectWindow(fault, recoveryBound(this.input.info), this.runEnd), from };
    if (skip !== undefined) {
      this.addExpectation(fault, slave, 'recovery', 'none', window, { note: `not checked: ${skip}` });
      return;
    }
    this.addExpectation(fault, slave, 'recovery', 'must', window, {});
  }

  // -- disconnects -----------------------------------------------------------

  private connOpenedBefore(d: MasterDisconnect, at: number): boolean {
    if (d.conn === undefined) return true;
    const info = this.master.conns.get(connKey(d.masterIncarnation, d.conn));
    return info === undefined || info.openedAt < at;
  }

  /**
   * Per node, each disconnect expectation takes the first fitting master
   * `disconnect` between its fault's start and the next expectation's, of a
   * connection that was already open when the fault began.
   */
  private matchDisconnects(): void {
    for (const slave of this.slaves) {
      const own = this.expectations
        .filter((e) => e.name === slave.name && e.result.check === 'disconnect' && e.result.expect !== 'none')
        .sort((a, b) => a.from - b.from || a.fault.ref.index - b.fault.ref.index);
      const disconnects = this.master.disconnects
        .filter((d) => d.node === slave.node && !d.duplicate)
        .sort((a, b) => a.at - b.at);
      own.forEach((e, i) => {
        const horizon = own.slice(i + 1).find((later) => later.from > e.from)?.from ?? Infinity;
        const candidates = disconnects.filter(
          (d) =>
            !d.matched &&
            d.at >= e.from &&
            d.at < horizon &&
            (e.masterIncarnation === undefined
              ? this.connOpenedBefore(d, e.from)
              : d.masterIncarnation === e.masterIncarnation),
        );
        const reasons = e.result.reasons ?? [];
        const inTime = (d: MasterDisconnect): boolean =>
          e.beforeIndex === undefined ? this.timing(e, d.at) !== 'late' : d.index < e.beforeIndex;
        const fitting = candidates.find((c) => reasons.includes(c.reason) && inTime(c));
        // A `may` takes only a disconnect that fits; anything else is left to be judged as spurious.
        const d = e.result.expect === 'may' ? fitting : (fitting ?? candidates[0]);
        const what = this.faultText(e.fault);
        if (d === undefined) {
          if (e.result.expect !== 'must') return;
          const expected = `expected reason ${reasons.join('|')} by ${this.rel(e.deadline)}`;
          if (this.timing(e, undefined) === 'unknown') {
            this.slowConfirmation(e, `no disconnect logged; ${expected}`);
            return;
          }
          this.fail({
            node: slave.name,
            kind: 'missing_disconnect',
            fault: e.fault.ref.index,
            detail: `${slave.name} (${slave.node}): no disconnect logged for the ${what}; ${expected}`,
          });
          return;
        }
        d.matched = true;
        const latencyMs = d.at - e.fault.started;
        e.result.seen = { at: iso(d.at), latencyMs, reason: d.reason, conn: d.conn };
        e.result.status = 'pass';
        if (!reasons.includes(d.reason)) {
          e.result.status = 'fail';
          this.fail({
            node: slave.name,
            kind: 'wrong_reason',
            fault: e.fault.ref.index,
            detail: `${slave.name} (${slave.node}): disconnect at ${this.rel(d.at)} for the ${what} has reason "${
              d.reason
            }"; expected ${reasons.join('|')}`,
          });
        }
        if (e.beforeIndex !== undefined) {
          if (d.index > e.beforeIndex)
            this.lateDisconnect(e, d, `after the master's shutdown line (${this.rel(e.deadline)})`);
          return;
        }
        const timing = this.timing(e, d.at);
        if (timing === 'unknown') this.slowConfirmation(e, `disconnect logged at ${this.rel(d.at)}`);
        else if (timing === 'late') {
          this.lateDisconnect(e, d, `${latencyMs} ms after the fault began, beyond the bound ${this.rel(e.deadline)}`);
        }
      });
    }
  }

  /**
   * Whether an effect at `at` (undefined: none was seen) came in time for its
   * expectation. An effect within the bound of the fault's request is in time;
   * one within the bound of its confirmation too, unless the confirmation took
   * longer than {@link CONFIRM_LIMIT_MS}: then nobody can tell (`unknown`).
   */
  private timing(e: Expectation, at: number | undefined): 'in_time' | 'late' | 'unknown' {
    if (at !== undefined && at <= e.strictDeadline) return 'in_time';
    if (e.fault.slow) return 'unknown';
    return at !== undefined && at <= e.deadline ? 'in_time' : 'late';
  }

  private faultText(fault: Fault): string {
    const { action, target, atMs } = fault.ref;
    return `${action} of ${action === 'master-restart' ? 'the master' : target} at ${atMs} ms`;
  }

  private lateDisconnect(e: Expectation, d: MasterDisconnect, bound: string): void {
    e.result.status = 'fail';
    this.fail({
      node: e.name,
      kind: 'late_disconnect',
      fault: e.fault.ref.index,
      detail: `${e.name} (${d.node}): disconnect for the ${this.faultText(e.fault)} logged at ${this.rel(d.at)}, ${bound}`,
    });
  }

  /** The expectation cannot be judged: its fault was confirmed too late to tell when it took effect. */
  private slowConfirmation(e: Expectation, seen: string): void {
    if (e.result.status !== 'fail') e.result.status = 'inconclusive';
    const { fault } = e;
    this.cannotJudge({
      node: e.name,
      kind: 'slow_confirmation',
      fault: fault.ref.index,
      detail: `${e.name}: the ${this.faultText(fault)} was confirmed ${fault.confirmed - fault.requested} ms after its request (limit ${CONFIRM_LIMIT_MS} ms); ${seen}, not within the bound of the request (${this.rel(
        e.strictDeadline,
      )}): whether the master was in time cannot be told`,
    });
  }

  private connOf(d: MasterDisconnect): ConnInfo | undefined {
    return d.conn === undefined ? undefined : this.master.conns.get(connKey(d.masterIncarnation, d.conn));
  }

  /** The slave a connection belongs to: the node its messages or disconnects named. */
  private slaveOfConn(info: ConnInfo | undefined): SlaveModel | undefined {
    if (info === undefined) return undefined;
    if (info.slaveNode !== undefined) return this.slaveByNode.get(info.slaveNode);
    for (const d of info.disconnects) {
      const slave = this.slaveByNode.get(d.node);
      if (slave !== undefined) return slave;
    }
    return undefined;
  }

  /**
   * Exactly one `disconnect` per connection of a slave node: a second one is a
   * failure, and so is a connection (a `connect` line, then a message from a
   * slave) that is never logged as ended by the end of its master's log — its
   * `shutdown` line, or the end of master.jsonl. A connection whose fault
   * already failed as `missing_disconnect` is not reported twice.
   */
  private checkConnections(): void {
    const shutdownIndex = new Map<number, number>();
    for (const s of this.master.shutdowns) {
      if (!shutdownIndex.has(s.masterIncarnation)) shutdownIndex.set(s.masterIncarnation, s.index);
    }
    for (const info of this.master.conns.values()) {
      const slave = this.slaveOfConn(info);
      if (slave === undefined) continue;
      const where = `conn ${info.conn} (master incarnation ${info.masterIncarnation})`;
      const [first, ...extra] = endingDisconnects(info);
      for (const d of extra) {
        this.fail({
          node: slave.name,
          kind: 'duplicated_disconnect',
          detail: `${slave.name} (${slave.node}): ${where} logged a disconnect again at ${this.rel(d.at)} (reason "${
            d.reason
          }"), after the one at ${this.rel(first?.at ?? NaN)} (reason "${first?.reason ?? '?'}")`,
        });
      }
      if (!info.hasConnectLine || info.slaveNode === undefined) continue;
      const end = shutdownIndex.get(info.masterIncarnation) ?? Infinity;
      // A restarted master's late disconnects are judged by its master-restart expectations.
      const lastMaster = info.masterIncarnation === this.master.lastIncarnation;
      if (first !== undefined && (first.index < end || !lastMaster)) continue;
      const reported = this.expectations.some(
        (e) =>
          e.name === slave.name &&
          e.result.check === 'disconnect' &&
          e.result.expect === 'must' &&
          e.result.status !== 'pass' &&
          e.result.seen === undefined &&
          e.from >= info.openedAt &&
          (e.masterIncarnation === undefined || e.masterIncarnation === info.masterIncarnation),
      );
      if (reported) continue;
      this.fail({
        node: slave.name,
        kind: 'missing_disconnect',
        detail: `${slave.name} (${slave.node}): ${where}, opened at ${this.rel(info.openedAt)}, ${
          first === undefined
            ? 'has no disconnect line after its last message'
            : `logged its disconnect only after the master's shutdown line (${this.rel(first.at)})`
        }`,
      });
    }
  }

  private judgeUnmatchedDisconnects(): { otherConnections: number; endOfRunDisconnects: number } {
    let otherConnections = 0;
    let endOfRunDisconnects = 0;
    for (const d of this.master.disconnects) {
      if (d.reason === 'auth_failed') {
        this.fail({
          node: d.node,
          kind: 'auth_failed',
          detail: `${d.node}: conn ${d.conn ?? '?'} refused at ${this.rel(d.at)} (auth_failed, ${
            d.code ?? 'no code'
          }): a peer without the run's token, or with another`,
        });
        continue;
      }
      if (d.matched) continue;
      const slave = this.slaveByNode.get(d.node);
      // Reported by checkConnections as duplicated_disconnect.
      if (d.duplicate && (slave ?? this.slaveOfConn(this.connOf(d))) !== undefined) continue;
      if (slave === undefined) {
        otherConnections += 1;
        continue;
      }
      const lastMaster = d.reason === 'shutdown' && d.masterIncarnation === this.master.lastIncarnation;
      if (lastMaster || (d.at >= this.scenarioEnd && END_OF_RUN_REASONS.includes(d.reason))) {
        endOfRunDisconnects += 1;
        continue;
      }
      this.fail({
        node: slave.name,
        kind: 'spurious_disconnect',
        detail: `${slave.name} (${slave.node}): disconnect at ${this.rel(d.at)} (reason "${d.reason}", conn ${
          d.conn ?? '?'
        }, seq ${d.seq ?? '?'}) matches no fault`,
      });
    }
    return { otherConnections, endOfRunDisconnects };
  }

  // -- recoveries ------------------------------------------------------------

  private checkRecoveries(): void {
    for (const e of this.expectations) {
      if (e.result.check !== 'recovery' || e.result.expect !== 'must') continue;
      const slave = this.slaveByName.get(e.name) as SlaveModel;
      const sighting = this.sightings.get(e);
      const timing = this.timing(e, sighting?.at);
      if (sighting !== undefined && timing !== 'late') {
        e.result.seen = { at: iso(sighting.at), latencyMs: sighting.at - e.fault.started, conn: sighting.conn };
      }
      if (timing === 'in_time') {
        e.result.status = 'pass';
        continue;
      }
      const first = sighting === undefined ? 'not seen again' : `first seen again at ${this.rel(sighting.at)}`;
      if (timing === 'unknown') {
        this.slowConfirmation(e, first);
        continue;
      }
      e.result.status = 'fail';
      this.fail({
        node: slave.name,
        kind: 'not_seen_again',
        fault: e.fault.ref.index,
        detail: `${slave.name} (${slave.node}) not seen again (connect + hello) after the ${this.faultText(
          e.fault,
        )} by ${this.rel(e.deadline)}${sighting === undefined ? '' : `; ${first}`}`,
      });
    }
  }

  // -- messages --------------------------------------------------------------

  private judgeMessages(): void {
    for (const slave of this.slaves) {
      for (const inc of slave.incarnations) {
        for (let pos = 0; pos < inc.sent.size; pos += 1) {
          const logCount = inc.sent.logCount(pos);
          if (logCount > 1) {
            const seq = inc.sent.seqAt(pos);
            this.fail({
              node: slave.name,
              kind: 'duplicated',
              seq,
              incarnation: inc.index,
              detail: `${slave.name} seq ${seq} (incarnation ${inc.index}) logged ${logCount} times, at ${inc.sent
                .loggedAt(pos)
                .map((at) => this.rel(at))
                .join(', ')}`,
            });
          }
          if (logCount > 0) continue;
          const sent = inc.sent.view(pos);
          const window = this.windows.find(
            (w) =>
              w.name === slave.name &&
              sent.at >= w.from &&
              sent.at <= w.to &&
              (w.incarnation === undefined || w.incarnation === inc.index) &&
              (w.evenWithAcks || !inc.acks),
          );
          const end = this.finalShutdownWindow();
          // With acks, the run's end loses nothing: slaves stop first and wait for their acks.
          const excuse =
            window ??
            this.droppedExcuse(slave, inc, sent) ??
            (!inc.acks && sent.at >= end.from && this.mayBeLostAtRunEnd(slave, inc, sent)
              ? { ...end, name: slave.name }
              : undefined);
          if (excuse !== undefined) {
            this.excused.push({
              node: slave.name,
              nodeId: slave.node,
              incarnation: inc.index,
              seq: sent.seq,
              sentAt: iso(sent.at),
              fault: excuse.fault,
              window: { from: iso(excuse.from), to: iso(excuse.to), bound: excuse.bound },
            });
            continue;
          }
          this.fail({
            node: slave.name,
            kind: 'missing',
            seq: sent.seq,
            incarnation: inc.index,
            detail: `${slave.name} seq ${sent.seq} (incarnation ${inc.index}, ${sent.type}) sent at ${this.rel(
              sent.at,
            )} never logged by the master`,
          });
        }
      }
    }
  }

  /**
   * Whether a message sent just before the last master stopped may have died
   * with it. Not when the master logged a later seq of the node in a
   * disconnect, nor when the connection it went out on ended with a clean FIN
   * (`closed`): TCP delivers everything written before the FIN. Only a
   * connection the master itself closed (`shutdown`) or that failed (`reset`)
   * can lose it — or one the master never tied to this process.
   */
  private mayBeLostAtRunEnd(slave: SlaveModel, inc: Incarnation, sent: SentView): boolean {
    const next = slave.incarnations[inc.index]?.startedAt ?? Infinity;
    const laterSeq = this.master.disconnects.some(
      (d) => d.node === slave.node && d.at >= sent.at && d.at < next && d.seq !== undefined && d.seq >= sent.seq,
    );
    if (laterSeq) return false;
    // The connection it went out on: the latest one carrying this process's messages, opened before it was sent.
    let conn: ConnInfo | undefined;
    for (const key of inc.conns) {
      const info = this.master.conns.get(key);
      if (info === undefined || info.openedAt > sent.at + CLOCK_SKEW_MS) continue;
      if (conn === undefined || info.openedIndex > conn.openedIndex) conn = info;
    }
    const ended = conn === undefined ? undefined : endingDisconnects(conn)[0];
    if (conn === undefined || (ended !== undefined && ended.at < sent.at - CLOCK_SKEW_MS)) return true;
    return ended !== undefined && RUN_END_LOSSY_REASONS.includes(ended.reason);
  }

  /**
   * A message the slave dropped unacked from its full outbox is lost by
   * design, provided the master said so: a `gap` line of the same process
   * covering its seq (a new process numbers from 1 again).
   */
  private droppedExcuse(slave: SlaveModel, inc: Incarnation, sent: SentView): Window | undefined {
    if (!inc.dropped.has(sent.seq)) return undefined;
    const gaps = this.master.gaps.get(slave.node) ?? [];
    if (!gaps.some((gap) => gap.boot === inc.boot && gap.from <= sent.seq && sent.seq <= gap.to)) return undefined;
    return {
      fault: { index: -2, action: 'dropped', target: slave.name, atMs: sent.at - this.runStart },
      name: slave.name,
      from: sent.at,
      to: sent.at,
      evenWithAcks: true,
      bound: 'the message itself: dropped by the slave, logged as a gap by the master',
    };
  }

  /** Messages sent as the last master stops can't be logged by it. */
  private finalShutdownWindow(): Window {
    const last = this.master.shutdowns.find((s) => s.masterIncarnation === this.master.lastIncarnation);
    return {
      fault: { index: -1, action: 'run-end', target: 'master', atMs: this.input.info.durationMs },
      name: '',
      evenWithAcks: false,
      from: (last?.at ?? this.runEnd) - IN_FLIGHT_SLACK_MS,
      // Open-ended; shown as the run's end.
      to: this.runEnd,
      bound: `from in-flight slack ${IN_FLIGHT_SLACK_MS} ms before the last master's shutdown, to the run's end`,
    };
  }

  private latencies(group: Expectation['group']): number[] {
    return this.expectations
      .filter((e) => e.group === group && e.result.check === 'disconnect' && e.result.seen !== undefined)
      .map((e) => e.result.seen?.latencyMs as number);
  }

  private nodeRow(slave: SlaveModel): NodeRow {
    let sent = 0;
    let logged = 0;
    const duplicated: MessageRef[] = [];
    for (const inc of slave.incarnations) {
      sent += inc.sent.size;
      for (let pos = 0; pos < inc.sent.size; pos += 1) {
        const count = inc.sent.logCount(pos);
        if (count > 0) logged += 1;
        if (count > 1) duplicated.push({ incarnation: inc.index, seq: inc.sent.seqAt(pos) });
      }
    }
    const ref = (s: MessageRef): MessageRef => ({ incarnation: s.incarnation, seq: s.seq });
    const mine = this.expectations.filter((e) => e.name === slave.name && e.result.check === 'disconnect');
    const failuresOf = (kind: FailureKind): MessageRef[] =>
      this.failures
        .filter((f) => f.node === slave.name && f.kind === kind && f.seq !== undefined && f.incarnation !== undefined)
        .map((f) => ({ incarnation: f.incarnation as number, seq: f.seq as number }));
    return {
      name: slave.name,
      node: slave.node,
      incarnations: slave.incarnations.length,
      sent,
      logged,
      missing: failuresOf('missing'),
      duplicated,
      outOfOrder: failuresOf('out_of_order'),
      unexpected: this.unexpectedByName.get(slave.name) ?? 0,
      inFlight: this.excused.filter((x) => x.node === slave.name).map(ref),
      disconnectsExpected: mine.filter((e) => e.result.expect === 'must').length,
      disconnectsOptional: mine.filter((e) => e.result.expect === 'may').length,
      disconnectsSeen: mine.filter((e) => e.result.seen !== undefined).length,
      detectionLatenciesMs: mine.flatMap((e) => (e.result.seen === undefined ? [] : [e.result.seen.latencyMs])),
    };
  }
}
