/** The report's figures: a row per slave, latency summaries, the verdict. */
import {
  isRunLevel,
  type CheckReport,
  type ExcusedMessage,
  type ExpectationResult,
  type Failure,
  type FailureKind,
  type Inconclusive,
  type LatencySummary,
  type MessageRef,
  type NodeRow,
  type Verdict,
} from '../check-result';
import type { LogTally } from '../sent-log';
import { iso } from './context';
import type { LatencyGroup } from './fault-rules';
import type { Incarnation, SlaveModel } from './slaves';

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

/** An expectation as reported, with the latency group it counts in. */
export interface Judged {
  readonly group: LatencyGroup;
  readonly result: ExpectationResult;
}

/** Detection latency of the matched disconnects, per group. */
export function latencyOf(judged: readonly Judged[]): CheckReport['latency'] {
  const of = (group: LatencyGroup): number[] =>
    judged
      .filter((e) => e.group === group && e.result.check === 'disconnect' && e.result.seen !== undefined)
      .map((e) => e.result.seen?.latencyMs as number);
  return {
    killStop: summarize(of('killStop')),
    cutPause: summarize(of('cutPause')),
    masterRestart: summarize(of('masterRestart')),
    network: summarize(of('network')),
  };
}

/** A definite failure outweighs one check that cannot be judged, not a run that cannot be. */
export function verdictOf(failures: readonly Failure[], inconclusive: readonly Inconclusive[]): Verdict {
  if (inconclusive.some(isRunLevel)) return 'inconclusive';
  if (failures.length > 0) return 'fail';
  return inconclusive.length > 0 ? 'inconclusive' : 'pass';
}

/** What a slave's row is made of. */
export interface RowInputs {
  readonly results: readonly ExpectationResult[];
  readonly failures: readonly Failure[];
  readonly excused: readonly ExcusedMessage[];
  readonly tallies: ReadonlyMap<Incarnation, LogTally>;
  readonly unexpectedByName: ReadonlyMap<string, number>;
}

export function nodeRow(slave: SlaveModel, input: RowInputs): NodeRow {
  let sent = 0;
  let logged = 0;
  // Loops, not Math.min(...): a spread of a soak run's messages overflows the stack.
  let firstSent = Infinity;
  let lastLogged = -Infinity;
  const duplicated: MessageRef[] = [];
  for (const inc of slave.incarnations) {
    sent += inc.sent.size;
    if (inc.sent.size > 0) firstSent = Math.min(firstSent, inc.sent.sentAtOf(0));
    const tally = input.tallies.get(inc);
    if (tally === undefined) continue;
    for (let pos = 0; pos < inc.sent.size; pos += 1) {
      const count = tally.logCount(pos);
      if (count > 0) {
        logged += 1;
        lastLogged = Math.max(lastLogged, tally.lastLoggedAt(pos));
      }
      if (count > 1) duplicated.push({ incarnation: inc.index, seq: inc.sent.seqAt(pos) });
    }
  }
  const ref = (s: MessageRef): MessageRef => ({ incarnation: s.incarnation, seq: s.seq });
  const mine = input.results.filter((e) => e.node === slave.name && e.check === 'disconnect');
  const failuresOf = (kind: FailureKind): MessageRef[] =>
    input.failures
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
    unexpected: input.unexpectedByName.get(slave.name) ?? 0,
    inFlight: input.excused.filter((x) => x.node === slave.name).map(ref),
    disconnectsExpected: mine.filter((e) => e.expect === 'must').length,
    disconnectsOptional: mine.filter((e) => e.expect === 'may').length,
    disconnectsSeen: mine.filter((e) => e.seen !== undefined).length,
    detectionLatenciesMs: mine.flatMap((e) => (e.seen === undefined ? [] : [e.seen.latencyMs])),
    ...(Number.isFinite(firstSent) ? { firstSentAt: iso(firstSent) } : {}),
    ...(Number.isFinite(lastLogged) ? { lastLoggedAt: iso(lastLogged) } : {}),
  };
}
