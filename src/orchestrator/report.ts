/**
 * The terminal report of a check: its tables and verdict line, whose cells
 * report.html shows too. The files a run directory gets are report-files.ts's.
 */
import {
  isRunLevel,
  seqRanges,
  type CheckReport,
  type DelayCheck,
  type ExpectationResult,
  type Failure,
  type Inconclusive,
  type LatencySummary,
} from './checker';
import { faultName, problemCells } from './junit';

/** The table lists this many failures; report.json has them all. */
export const MAX_LISTED_FAILURES = 50;

function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: ReadonlySet<number>,
): string[] {
  // A loop, not Math.max(...rows): see append().
  const widths = header.map((h, i) => rows.reduce((width, row) => Math.max(width, (row[i] ?? '').length), h.length));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/**
 * `out.push(...lines)` in a loop: a spread passes each line as an argument,
 * and a run with 150,000 faults has more rows than a call can take.
 */
function append(out: string[], lines: readonly string[]): void {
  for (const line of lines) out.push(line);
}

function relative(report: CheckReport, iso: string): string {
  const ms = Date.parse(iso) - Date.parse(report.startedAt);
  return Number.isFinite(ms) ? `+${(ms / 1000).toFixed(3)}s` : iso;
}

function latency(summary: LatencySummary): string {
  return summary.count === 0 ? 'none' : `p50 ${summary.p50Ms} ms, max ${summary.maxMs} ms (${summary.count})`;
}

/** `Detection latency: kill/stop p50 7 ms, max 7 ms (1); cut/pause …`: the disconnects' latencies by kind of fault. */
export function detectionLatencyLine(report: CheckReport): string {
  return `Detection latency: kill/stop ${latency(report.latency.killStop)}; cut/pause ${latency(report.latency.cutPause)}; master-restart ${latency(report.latency.masterRestart)}; network ${latency(report.latency.network)}`;
}

/** `1,234`: counts of messages run long. */
function count(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * `Message latency: p50 3 ms, p99 12 ms, max 40 ms over 1,234 messages;
 * slowest node slave-3 (p99 20 ms)`; the slowest node only when the nodes' p99s differ.
 */
export function messageLatencyLine(report: CheckReport): string {
  const { all, nodes } = report.messageLatency;
  if (all.count === 0) return 'Message latency: no message logged';
  const head = `Message latency: p50 ${all.p50Ms} ms, p99 ${all.p99Ms} ms, max ${all.maxMs} ms over ${count(all.count)} messages`;
  const measured = Object.entries(nodes).filter(([, n]) => n.count > 0);
  // No node stands out when all share one p99.
  if (new Set(measured.map(([, n]) => n.p99Ms)).size < 2) return head;
  const [name, slowest] = measured.reduce((a, b) => ((b[1].p99Ms as number) > (a[1].p99Ms as number) ? b : a));
  return `${head}; slowest node ${name} (p99 ${slowest.p99Ms} ms)`;
}

function seenText(e: ExpectationResult): string {
  if (e.seen === undefined) return e.expect === 'none' ? '-' : 'nothing';
  const what = e.check === 'disconnect' ? `${e.seen.reason}` : `hello conn ${e.seen.conn ?? '?'}`;
  return `${what} +${e.seen.latencyMs} ms`;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** The run-level reasons it cannot be judged, e.g. `interrupted`, `fault_not_confirmed`. */
function runInconclusiveKinds(report: CheckReport): string[] {
  return [...new Set(report.inconclusive.filter(isRunLevel).map((x) => x.kind))];
}

/** `VERDICT: PASS — …`: the last line of the terminal report. */
export function verdictLine(report: CheckReport): string {
  const { verdict, failures, inconclusive } = report;
  if (verdict === 'pass') return 'VERDICT: PASS — every message and every disconnect accounted for';
  const unjudged = inconclusive.length === 0 ? '' : `; ${plural(inconclusive.length, 'thing')} cannot be judged`;
  if (verdict === 'fail') return `VERDICT: FAIL — ${plural(failures.length, 'failure')}${unjudged}`;
  const kinds = runInconclusiveKinds(report);
  const why =
    kinds.length > 0
      ? `the run cannot be judged: ${kinds.join(', ')}`
      : `${plural(inconclusive.length, 'check')} cannot be judged, none failed`;
  return `VERDICT: INCONCLUSIVE — ${why} (see above)`;
}

/** `+1.501s → +1.531s`: when a fault was requested and when it was confirmed. */
function faultTimes(report: CheckReport, e: ExpectationResult): string {
  const { requestedAt, confirmedAt } = e.fault;
  if (requestedAt === undefined || confirmedAt === undefined) return '-';
  return `${relative(report, requestedAt)} → ${relative(report, confirmedAt)}`;
}

const STATUS_TEXT: Readonly<Record<ExpectationResult['status'], string>> = {
  pass: 'ok',
  fail: 'FAIL',
  inconclusive: 'INCONCLUSIVE',
  not_applicable: 'n/a',
};

function problemTable(title: string, problems: ReadonlyArray<Failure | Inconclusive>): string[] {
  if (problems.length === 0) return [];
  const listed = problems.slice(0, MAX_LISTED_FAILURES);
  const out = [
    '',
    `${title} (${problems.length}):`,
    ...table(['NODE', 'KIND', 'SEQ', 'DETAIL'], listed.map(problemCells), new Set()).map((l) => `  ${l}`),
  ];
  if (problems.length > listed.length) {
    out.push(`  … and ${problems.length - listed.length} more (report.json lists them all)`);
  }
  return out;
}

/** The backend's warnings of a run, when there were any. */
function warningLines(report: CheckReport): string[] {
  const warnings = report.warnings ?? [];
  if (warnings.length === 0) return [];
  return ['', `Warnings from the ${report.backend} backend (not judged):`, ...warnings.map((w) => `  ${w}`)];
}

/** The failure detector, when it is not the fixed timeout: `; detector phi (threshold 8, min std dev 100 ms, acceptable pause 500 ms)`. */
function detectorText(report: CheckReport): string {
  const d = report.detector;
  if (d === undefined || d.kind === 'fixed') return '';
  return `; detector phi (threshold ${d.threshold}, min std dev ${d.minStdDevMs} ms, acceptable pause ${d.acceptablePauseMs} ms)`;
}

/** `Run "kill-and-cut" (local), <start> .. <end>; heartbeat 500 ms, timeout 1500 ms`, and the detector when it is phi. */
export function runHeading(report: CheckReport): string {
  const { scenario, backend, startedAt, endedAt, heartbeatIntervalMs, heartbeatTimeoutMs } = report;
  return `Run "${scenario}" (${backend}), ${startedAt} .. ${endedAt}; heartbeat ${heartbeatIntervalMs} ms, timeout ${heartbeatTimeoutMs} ms${detectorText(report)}`;
}

/** A terminal report: a row per slave, the fault expectations, the failures, and a one-line verdict. */
export function formatTable(report: CheckReport): string {
  const out: string[] = [runHeading(report), ''];
  append(out, nodeTable(report));
  append(out, faultTable(report));
  out.push('', detectionLatencyLine(report), messageLatencyLine(report));
  out.push(...notes(report));
  append(out, delayTable(report));
  out.push(...problemTable('Failures', report.failures));
  out.push(...problemTable('Cannot be judged', report.inconclusive));
  out.push(...warningLines(report));
  out.push('', verdictLine(report), '');
  return out.join('\n');
}

/** The per-node table's header, as the terminal prints it; {@link nodeRows} has its rows. */
export const NODE_COLUMNS = [
  'NAME',
  'NODE',
  'SENT',
  'LOGGED',
  'MISSING',
  'DUP',
  'OOO',
  'UNEXP',
  'IN FLIGHT',
  'DISC EXP/SEEN',
  'DETECT MS',
] as const;

/** A row of cells per slave, in `report.nodes` order: what it sent, what the master logged, and its disconnects. */
export function nodeRows(report: CheckReport): string[][] {
  return report.nodes.map((n) => [
    n.name,
    n.node,
    String(n.sent),
    String(n.logged),
    String(n.missing.length),
    String(n.duplicated.length),
    String(n.outOfOrder.length),
    String(n.unexpected),
    String(n.inFlight.length),
    `${n.disconnectsExpected}${n.disconnectsOptional > 0 ? `+${n.disconnectsOptional}?` : ''}/${n.disconnectsSeen}`,
    n.detectionLatenciesMs.length === 0 ? '-' : n.detectionLatenciesMs.join(', '),
  ]);
}

/** A row per slave: what it sent, what the master logged, and its disconnects. */
function nodeTable(report: CheckReport): string[] {
  return table(NODE_COLUMNS, nodeRows(report), new Set([2, 3, 4, 5, 6, 7, 8]));
}

/** The faults table's header, as the terminal prints it; {@link faultRows} has its rows. */
export const FAULT_COLUMNS = [
  'FAULT',
  'NODE',
  'CHECK',
  'EXPECT',
  'REQUESTED → CONFIRMED',
  'DEADLINE',
  'SEEN',
  'RESULT',
  'BOUND',
] as const;

/** A row of cells per fault expectation, in `report.expectations` order. */
export function faultRows(report: CheckReport): string[][] {
  return report.expectations.map((e) => [
    faultName(e),
    e.node,
    e.check,
    e.expect + (e.reasons === undefined ? '' : ` ${e.reasons.join('|')}`),
    faultTimes(report, e),
    `by ${relative(report, e.deadline)}`,
    seenText(e),
    STATUS_TEXT[e.status],
    e.bound,
  ]);
}

/** A row per fault expectation, under "Faults:"; nothing when the run had no fault. */
function faultTable(report: CheckReport): string[] {
  if (report.expectations.length === 0) return [];
  const out = ['', 'Faults:'];
  append(
    out,
    table(FAULT_COLUMNS, faultRows(report), new Set()).map((l) => `  ${l}`),
  );
  return out;
}

const DELAY_STATUS_TEXT: Readonly<Record<DelayCheck['status'], string>> = {
  pass: 'ok',
  fail: 'FAIL',
  not_applicable: 'n/a',
};

/** A row per delay towards the master, under "Delays:": what the messages sent under it took. */
function delayTable(report: CheckReport): string[] {
  if (report.delayChecks.length === 0) return [];
  const rows = report.delayChecks.map((d) => [
    faultName(d),
    d.node,
    d.jitterMs > 0 ? `${d.delayMs} ± ${d.jitterMs} ms` : `${d.delayMs} ms`,
    `${relative(report, d.from)} → ${relative(report, d.to)}`,
    relative(report, d.judgedUntil),
    String(d.count),
    d.p50Ms === null ? '-' : `${d.p50Ms} ms`,
    d.baselineP50Ms === null ? '-' : `${d.baselineP50Ms} ms`,
    d.withinMs === null ? '-' : `${d.withinMs[0]}–${d.withinMs[1]} ms`,
    DELAY_STATUS_TEXT[d.status],
    d.note ?? `to ${d.closedBy}`,
  ]);
  const out = ['', "Delays towards the master (messages sent from the window's start until SENT BY):"];
  append(
    out,
    table(
      [
        'FAULT',
        'NODE',
        'DELAY',
        'WINDOW',
        'SENT BY',
        'MESSAGES',
        'P50',
        'BASELINE P50',
        'EXPECTED P50',
        'RESULT',
        'NOTE',
      ],
      rows,
      new Set([5]),
    ).map((l) => `  ${l}`),
  );
  return out;
}

/** The lines on excused messages, sent lines lost with a killed process, and what was not checked. */
function notes(report: CheckReport): string[] {
  const out: string[] = [];
  if (report.excused.length > 0) {
    const groups = new Map<string, number[]>();
    for (const x of report.excused) {
      const at =
        x.fault.action === 'dropped'
          ? 'a full outbox (dropped, gap logged)'
          : x.fault.index < 0
            ? 'run end'
            : `#${x.fault.index} ${x.fault.action}`;
      const key = `${x.node} incarnation ${x.incarnation} at ${at} (${x.window.bound})`;
      groups.set(key, [...(groups.get(key) ?? []), x.seq]);
    }
    out.push(
      `In flight at a fault or dropped (excused, not missing): ${report.excused.length}: ${[...groups]
        .map(([key, seqs]) => `${key.replace(' at ', ` seq ${seqRanges(seqs)} at `)}`)
        .join('; ')}`,
    );
  }
  if (report.sentLinesLost.length > 0) {
    const lost = report.sentLinesLost.map(
      (x) => `${x.node} incarnation ${x.incarnation} seq ${x.seq} at #${x.fault.index} ${x.fault.action}`,
    );
    out.push(`Logged, their "sent" lines lost with the killed process (not unexpected): ${lost.join('; ')}`);
  }
  if (report.otherConnections > 0 || report.endOfRunDisconnects > 0) {
    out.push(
      `Not checked: ${report.otherConnections} disconnect(s) of connections that never named a slave, ${report.endOfRunDisconnects} at the end of the run`,
    );
  }

  return out;
}
