/**
 * The model of the master, from the first reading of its log: its
 * incarnations, connections, disconnects and `gap` lines, and which slave
 * process each connection's messages came from. No line is kept as an object
 * but a disconnect. The second reading (attribution) sees the lines only
 * through {@link isListening} and {@link messageOf}: the fields of a master
 * line are read here and nowhere else, through the log contract, each only on
 * the event that has it.
 */
import { opensConnection, type ReadMasterLine } from '../../protocol';
import type { Inconclusive } from '../check-result';
import type { RunLogEntry } from '../types';
import { CLOCK_SKEW_MS, connKey, int, parseTime, str, timeOf } from './context';
import { sentBy, type Incarnation, type SlaveModel, type SlavesModel } from './slaves';

export interface MasterDisconnect {
  readonly index: number;
  readonly at: number;
  readonly masterIncarnation: number;
  readonly node: string;
  readonly reason: string;
  /** The line's `code`, when it has one (why an `auth_failed` connection was refused). */
  readonly code: string | undefined;
  readonly conn: number | undefined;
  readonly seq: number | undefined;
  /**
   * Logged after the connection's first `disconnect` that no message on it
   * follows: reported as `duplicated_disconnect`, never matched to a fault.
   */
  readonly duplicate: boolean;
}

export interface ConnInfo {
  readonly openedAt: number;
  readonly openedIndex: number;
  readonly hasConnectLine: boolean;
  readonly closedAt: number | undefined;
  readonly conn: number;
  readonly masterIncarnation: number;
  /** Every `disconnect` line of this connection, in log order. */
  readonly disconnects: readonly MasterDisconnect[];
  /** Line index of its last `message`, if any. A disconnect before it did not end the connection. */
  readonly lastMessageIndex: number | undefined;
  /** When the master logged that message (its clock, ms). */
  readonly lastMessageAt: number | undefined;
  /** The slave node id a `message` line on it named, if any. */
  readonly slaveNode: string | undefined;
}

/** The messages of one connection from one node: they all belong to one slave process. */
export interface MessageGroup {
  /** Line index of its first message: groups are judged in this order. */
  readonly first: number;
  /** The slave whose node id the messages name. */
  readonly slave: SlaveModel | undefined;
  /** The process that sent most of its messages before they were logged (the latest on a tie). */
  readonly best: Incarnation | undefined;
}

export interface MasterMark {
  readonly index: number;
  readonly at: number;
  readonly masterIncarnation: number;
}

export interface MasterModel {
  /** By `<master incarnation>:<conn>:<node>`; messages without a conn are each a group of their own, not kept. */
  readonly groups: ReadonlyMap<string, MessageGroup>;
  /** Slave node id -> master incarnation -> when it logged its first message from that node. */
  readonly firstMessageAt: ReadonlyMap<string, ReadonlyMap<number, number>>;
  /** Node id -> the seq ranges its `gap` lines reported, each for one slave process (`boot`). */
  readonly gaps: ReadonlyMap<string, ReadonlyArray<{ boot: string; from: number; to: number }>>;
  readonly disconnects: readonly MasterDisconnect[];
  /** By {@link connKey}. */
  readonly conns: ReadonlyMap<string, ConnInfo>;
  readonly listenings: readonly MasterMark[];
  readonly shutdowns: readonly MasterMark[];
  readonly lastIncarnation: number;
}

/** A master `message` line, as attribution reads it in the second reading. */
export interface MasterMessage {
  readonly index: number;
  readonly at: number;
  readonly node: string;
  readonly seq: number | undefined;
  readonly type: string;
  /** The line's `message`: `Received message: <text>`. */
  readonly text: string | undefined;
  readonly conn: number | undefined;
  /** A hello that asked for acks: it opens a connection and is no numbered message. */
  readonly opening: boolean;
}

/** A connection's `disconnect` lines after its last message: the first ended it, any other is a duplicate. */
export function endingDisconnects(info: ConnInfo): MasterDisconnect[] {
  const last = info.lastMessageIndex;
  return info.disconnects.filter((d) => last === undefined || d.index > last);
}

/** The process that sent most of a group's messages before they were logged (the latest on a tie). */
export function bestOf(slave: SlaveModel | undefined, scores: readonly number[]): Incarnation | undefined {
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

type LineOf<E extends ReadMasterLine['event']> = Extract<ReadMasterLine, { event: E }>;
type Draft<T> = { -readonly [K in keyof T]: T[K] };
type ConnDraft = Draft<ConnInfo> & { disconnects: Array<Draft<MasterDisconnect>> };
interface GroupDraft {
  first: number;
  slave: SlaveModel | undefined;
  /** Per incarnation (0-based), how many of its messages that process sent before they were logged. */
  scores: number[];
}

/** What the first reading gathers, line by line. */
class MasterReading {
  readonly groups = new Map<string, GroupDraft>();
  readonly firstMessageAt = new Map<string, Map<number, number>>();
  readonly gaps = new Map<string, Array<{ boot: string; from: number; to: number }>>();
  readonly disconnects: Array<Draft<MasterDisconnect>> = [];
  readonly conns = new Map<string, ConnDraft>();
  readonly listenings: MasterMark[] = [];
  readonly shutdowns: MasterMark[] = [];
  readonly problems: Inconclusive[] = [];
  incarnation = 0;

  constructor(private readonly slaves: SlavesModel) {}

  read({ line, record }: RunLogEntry<'master'>, index: number): void {
    // Any line, of a known event or not, has a time.
    const at = parseTime(record.timestamp, `master.jsonl line ${index + 1}`, this.problems);
    const mark = { index, at, masterIncarnation: this.incarnation };
    switch (line?.event) {
      case 'listening':
        this.incarnation += 1;
        this.listenings.push({ ...mark, masterIncarnation: this.incarnation });
        break;
      case 'shutdown':
        this.shutdowns.push(mark);
        break;
      case 'connect': {
        const info = this.touch(int(line.conn), at, index);
        if (info !== undefined) info.hasConnectLine = true;
        break;
      }
      case 'message':
        this.message(line, record, at, index);
        break;
      case 'gap':
        this.gap(line);
        break;
      case 'disconnect':
        this.disconnect(line, record, at, index);
        break;
    }
  }

  private touch(conn: number | undefined, at: number, index: number): ConnDraft | undefined {
    if (conn === undefined) return undefined;
    const key = connKey(this.incarnation, conn);
    let info = this.conns.get(key);
    if (info === undefined) {
      info = {
        openedAt: at,
        openedIndex: index,
        hasConnectLine: false,
        closedAt: undefined,
        conn,
        masterIncarnation: this.incarnation,
        disconnects: [],
        lastMessageIndex: undefined,
        lastMessageAt: undefined,
        slaveNode: undefined,
      };
      this.conns.set(key, info);
    }
    return info;
  }

  private message(line: LineOf<'message'>, record: RunLogEntry<'master'>['record'], at: number, index: number): void {
    const conn = int(line.conn);
    const info = this.touch(conn, at, index);
    const node = line.node ?? '(none)';
    const known = this.slaves.byNode.has(node);
    if (info !== undefined) {
      info.lastMessageIndex = index;
      info.lastMessageAt = at;
      if (info.slaveNode === undefined && known) info.slaveNode = node;
    }
    if (known) {
      let byIncarnation = this.firstMessageAt.get(node);
      if (byIncarnation === undefined) this.firstMessageAt.set(node, (byIncarnation = new Map()));
      if (!byIncarnation.has(this.incarnation)) byIncarnation.set(this.incarnation, at);
    }
    // On the line as written: a `seq` of another type than a number still makes it no opening hello.
    if (conn !== undefined && !opensConnection(record)) {
      this.score(node, `${connKey(this.incarnation, conn)}:${node}`, index, at, int(line.seq));
    }
  }

  /** Counts, for the message's group, each process of its node that sent it before it was logged. */
  private score(node: string, key: string, index: number, at: number, seq: number | undefined): void {
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { first: index, slave: this.slaves.byNode.get(node), scores: [] };
      this.groups.set(key, group);
    }
    const incarnations = group.slave?.incarnations ?? [];
    for (let k = 0; k < incarnations.length; k += 1) {
      if (sentBy(incarnations[k] as Incarnation, at, seq, CLOCK_SKEW_MS) !== undefined) {
        group.scores[k] = (group.scores[k] ?? 0) + 1;
      }
    }
  }

  private gap(line: LineOf<'gap'>): void {
    const from = int(line.from);
    const to = int(line.to);
    const { node, boot } = line;
    if (from === undefined || to === undefined || node === undefined || boot === undefined) return;
    const gaps = this.gaps.get(node) ?? [];
    gaps.push({ boot, from, to });
    this.gaps.set(node, gaps);
  }

  private disconnect(
    line: LineOf<'disconnect'>,
    record: RunLogEntry<'master'>['record'],
    at: number,
    index: number,
  ): void {
    const conn = int(line.conn);
    const info = this.touch(conn, at, index);
    if (info !== undefined && info.closedAt === undefined) info.closedAt = at;
    const d: Draft<MasterDisconnect> = {
      index,
      at,
      masterIncarnation: this.incarnation,
      node: line.node ?? '(none)',
      // A reason this version does not know (a later master's) is reported as written.
      reason: line.reason ?? str(record.reason) ?? '(none)',
      code: line.code,
      conn,
      seq: int(line.seq),
      duplicate: false,
    };
    info?.disconnects.push(d);
    this.disconnects.push(d);
  }
}

/** Reads the master's log once into its model. */
export function modelMaster(
  lines: Iterable<RunLogEntry<'master'>>,
  slaves: SlavesModel,
): { master: MasterModel; inconclusive: Inconclusive[] } {
  const reading = new MasterReading(slaves);
  let index = 0;
  for (const line of lines) reading.read(line, index++);
  const groups = new Map<string, MessageGroup>();
  for (const [key, g] of reading.groups)
    groups.set(key, { first: g.first, slave: g.slave, best: bestOf(g.slave, g.scores) });
  // A disconnect that messages on the same connection follow is judged as spurious (or matched) as any other.
  for (const info of reading.conns.values()) {
    for (const d of endingDisconnects(info).slice(1)) (d as Draft<MasterDisconnect>).duplicate = true;
  }
  const { problems: inconclusive } = reading;
  if (reading.listenings.length === 0) {
    inconclusive.push({ node: 'master', kind: 'invalid_run', detail: 'master.jsonl has no "listening" line' });
  }
  const master: MasterModel = {
    groups,
    firstMessageAt: reading.firstMessageAt,
    gaps: reading.gaps,
    disconnects: reading.disconnects,
    conns: reading.conns,
    listenings: reading.listenings,
    shutdowns: reading.shutdowns,
    lastIncarnation: reading.incarnation,
  };
  return { master, inconclusive };
}

/** Whether the line starts a new master incarnation. */
export const isListening = (entry: RunLogEntry<'master'>): boolean => entry.line?.event === 'listening';

/** A `message` line as attribution reads it; undefined for any other line. */
export function messageOf({ line, record }: RunLogEntry<'master'>, index: number): MasterMessage | undefined {
  if (line?.event !== 'message') return undefined;
  return {
    index,
    at: timeOf(record.timestamp),
    node: line.node ?? '(none)',
    seq: int(line.seq),
    type: line.type ?? 'unknown',
    text: line.message,
    conn: int(line.conn),
    opening: opensConnection(record),
  };
}

/** The connection a disconnect ended, if it named one. */
export function connOf(master: MasterModel, d: MasterDisconnect): ConnInfo | undefined {
  return d.conn === undefined ? undefined : master.conns.get(connKey(d.masterIncarnation, d.conn));
}

/** The slave a connection belongs to: the node its messages or disconnects named. */
export function slaveOfConn(slaves: SlavesModel, info: ConnInfo | undefined): SlaveModel | undefined {
  if (info === undefined) return undefined;
  if (info.slaveNode !== undefined) return slaves.byNode.get(info.slaveNode);
  for (const d of info.disconnects) {
    const slave = slaves.byNode.get(d.node);
    if (slave !== undefined) return slave;
  }
  return undefined;
}
