/**
 * Message attribution, the second reading of the master's log: ties each
 * logged message to the slave process that sent it, counts how often each
 * sent message was logged, checks its content and order, and notes the first
 * sighting of a node each pending recovery waits for.
 *
 * A connection belongs to one process, so all messages of one connection go
 * to one incarnation: the one that sent most of them before they were logged
 * (the latest on a tie, since a new process repeats its predecessor's seqs),
 * as counted in the first reading. Nothing is kept per line but what a check
 * must explain; findings come in the order of the groups' first messages,
 * then of the log.
 */
import type { Failure } from '../check-result';
import { LogTally } from '../sent-log';
import type { RunLogEntry } from '../types';
import { CLOCK_SKEW_MS, connKey, rel, type RunContext } from './context';
import { FAULT_RULES } from './fault-rules';
import { bestOf, isListening, messageOf, type MasterMessage, type MasterModel } from './master';
import type { Expectation } from './plan';
import { sentBy, type Incarnation, type SlaveModel, type SlavesModel } from './slaves';

/** A logged message no `sent` line explains, with the slave and process its connection belongs to. */
export interface Unexplained {
  readonly m: MasterMessage;
  readonly slave: SlaveModel | undefined;
  readonly inc: Incarnation | undefined;
}

export interface Attribution {
  /** `wrong_content` in the groups' order, then `out_of_order` in the log's. */
  readonly failures: readonly Failure[];
  readonly unexplained: readonly Unexplained[];
  /** Per recovery that must be seen: the first message that shows the node again. */
  readonly sightings: ReadonlyMap<Expectation, MasterMessage>;
  /** Per process, how often and when the master logged each of its sent messages. */
  readonly tallies: ReadonlyMap<Incarnation, LogTally>;
  /** Per process, the connections (by {@link connKey}) that carried its messages. */
  readonly conns: ReadonlyMap<Incarnation, ReadonlySet<string>>;
}

interface Found {
  readonly first: number;
  readonly index: number;
  readonly failure?: Failure;
  readonly unexplained?: Unexplained;
}

/** Reads the master's log again and attributes each message. */
export function attributeMessages(
  ctx: RunContext,
  lines: Iterable<RunLogEntry<'master'>>,
  slaves: SlavesModel,
  master: MasterModel,
  expectations: readonly Expectation[],
): Attribution {
  const found: Found[] = [];
  const outOfOrder: Failure[] = [];
  const highest = new Map<Incarnation, number>();
  const tallies = new Map<Incarnation, LogTally>();
  const conns = new Map<Incarnation, Set<string>>();
  const sightings = new Map<Expectation, MasterMessage>();
  const recoveries = pendingRecoveries(expectations);
  let masterIncarnation = 0;
  let index = -1;
  for (const line of lines) {
    index += 1;
    if (isListening(line)) masterIncarnation += 1;
    const m = messageOf(line, index);
    if (m === undefined) continue;
    lookForRecoveries(master, recoveries.get(m.node), m, masterIncarnation, sightings);
    if (m.opening) continue;
    const key = m.conn === undefined ? undefined : connKey(masterIncarnation, m.conn);
    const group = key === undefined ? undefined : master.groups.get(`${key}:${m.node}`);
    const slave = group === undefined ? slaves.byNode.get(m.node) : group.slave;
    const inc = group === undefined ? bestOf(slave, singleScores(slave, m)) : group.best;
    const pos = inc === undefined ? undefined : sentBy(inc, m.at, m.seq, CLOCK_SKEW_MS);
    const first = group?.first ?? index;
    if (inc === undefined || pos === undefined) {
      found.push({ first, index, unexplained: { m, slave, inc } });
      continue;
    }
    const failure = checkContent(ctx, m, slave as SlaveModel, inc, pos);
    if (failure !== undefined) found.push({ first, index, failure });
    if (key !== undefined) setOf(conns, inc).add(key);
    let tally = tallies.get(inc);
    if (tally === undefined) tallies.set(inc, (tally = new LogTally()));
    if (tally.markLogged(pos, m.at) > 1) continue;
    // In log order, so "lower than one logged before" means what it says.
    const top = highest.get(inc) ?? 0;
    if ((m.seq as number) < top) outOfOrder.push(outOfOrderFailure(ctx, slave as SlaveModel, inc, m, top));
    else highest.set(inc, m.seq as number);
  }
  found.sort((a, b) => a.first - b.first || a.index - b.index);
  const failures: Failure[] = [];
  const unexplained: Unexplained[] = [];
  for (const x of found) {
    if (x.failure !== undefined) failures.push(x.failure);
    if (x.unexplained !== undefined) unexplained.push(x.unexplained);
  }
  failures.push(...outOfOrder);
  return { failures, unexplained, sightings, tallies, conns };
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  return set;
}

/** The recoveries that must be seen, by node id, in the order they were planned. */
function pendingRecoveries(expectations: readonly Expectation[]): Map<string, Expectation[]> {
  const recoveries = new Map<string, Expectation[]>();
  for (const e of expectations) {
    if (e.check !== 'recovery' || e.expect !== 'must') continue;
    const own = recoveries.get(e.slave.node);
    if (own === undefined) recoveries.set(e.slave.node, [e]);
    else own.push(e);
  }
  return recoveries;
}

/** A message without a conn is a group of its own: each process that sent it before it was logged scores 1. */
function singleScores(slave: SlaveModel | undefined, m: MasterMessage): number[] {
  return (slave?.incarnations ?? []).map((inc) => (sentBy(inc, m.at, m.seq, CLOCK_SKEW_MS) === undefined ? 0 : 1));
}

function outOfOrderFailure(
  ctx: RunContext,
  slave: SlaveModel,
  inc: Incarnation,
  m: MasterMessage,
  top: number,
): Failure {
  return {
    node: slave.name,
    kind: 'out_of_order',
    seq: m.seq,
    incarnation: inc.index,
    detail: `${slave.name} seq ${m.seq} (incarnation ${inc.index}) logged at ${rel(ctx, m.at)} after seq ${top}`,
  };
}

/**
 * Notes `m` as the first sighting of each pending recovery of its node it
 * fits, and drops those from `pending` (this phase's own list): a timeline of
 * many faults must not cost a look at each of them per line.
 */
function lookForRecoveries(
  master: MasterModel,
  pending: Expectation[] | undefined,
  m: MasterMessage,
  masterIncarnation: number,
  sightings: Map<Expectation, MasterMessage>,
): void {
  if (pending === undefined || m.conn === undefined) return;
  const info = master.conns.get(connKey(masterIncarnation, m.conn));
  if (info === undefined) return;
  let kept = 0;
  for (const e of pending) {
    // A connection that outlived a short cut or pause: the master never lost the node.
    const { mayKeep } = FAULT_RULES[e.fault.action];
    const fits =
      !(m.at < e.from) &&
      ((m.type === 'hello' && info.hasConnectLine && info.openedAt >= e.from) ||
        (mayKeep && info.openedAt < e.from && (info.closedAt === undefined || info.closedAt >= e.from)));
    if (fits) sightings.set(e, m);
    else pending[kept++] = e;
  }
  pending.length = kept;
}

/** The master must log what the slave sent: its text after `Received message: `, and its type. */
function checkContent(
  ctx: RunContext,
  m: MasterMessage,
  slave: SlaveModel,
  inc: Incarnation,
  pos: number,
): Failure | undefined {
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
    detail: `${name} seq ${m.seq} (incarnation ${inc.index}) logged at ${rel(ctx, m.at)} on conn ${
      m.conn ?? '?'
    } with ${wrong.join(' and ')}`,
  };
}
