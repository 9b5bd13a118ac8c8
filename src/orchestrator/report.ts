import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
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
// report-html uses this module's table cells; the cycle is of functions only, called after both are loaded.
import { htmlReport } from './report-html';
import { RUN_FILES } from './run-directory';

/** Files `writeReports` puts into a run directory. */
export const REPORT_FILES = { json: 'report.json', junit: 'junit.xml', html: 'report.html' } as const;

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

function faultName(e: Pick<ExpectationResult, 'fault'>): string {
  const { index, action, target, atMs } = e.fault;
  return `#${index} ${action} ${target} @${atMs}ms`;
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
    ...table(
      ['NODE', 'KIND', 'SEQ', 'DETAIL'],
      listed.map((f) => [f.node, f.kind, f.seq === undefined ? '-' : `seq ${f.seq}`, f.detail]),
      new Set(),
    ).map((l) => `  ${l}`),
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

/** A terminal report: a row per slave, the fault expectations, the failures, and a one-line verdict. */
export function formatTable(report: CheckReport): string {
  const out: string[] = [
    `Run "${report.scenario}" (${report.backend}), ${report.startedAt} .. ${report.endedAt}; heartbeat ${report.heartbeatIntervalMs} ms, timeout ${report.heartbeatTimeoutMs} ms`,
    '',
  ];
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

/** Escapes text for XML attributes and content; drops characters XML 1.0 cannot hold. */
export function escapeXml(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

interface TestCase {
  classname: string;
  name: string;
  failures: ReadonlyArray<Failure | Inconclusive>;
  /** `error` rather than `failure`: the record or the harness is at fault, not the master. */
  error?: boolean;
  /** Why it was not judged: nothing expected, or it cannot be judged. Never shown as passed. */
  skipped?: string;
}

function testCaseXml(tc: TestCase): string {
  const head = `  <testcase classname="${escapeXml(tc.classname)}" name="${escapeXml(tc.name)}" time="0"`;
  if (tc.failures.length === 0 && tc.skipped === undefined) return `${head}/>`;
  const body: string[] = [];
  if (tc.failures.length === 0 && tc.skipped !== undefined)
    body.push(`    <skipped message="${escapeXml(tc.skipped)}"/>`);
  if (tc.failures.length > 0) {
    const tag = tc.error === true ? 'error' : 'failure';
    const kinds = [...new Set(tc.failures.map((f) => f.kind))].join(', ');
    const message = tc.failures.length === 1 ? (tc.failures[0]?.detail ?? kinds) : `${tc.failures.length} × ${kinds}`;
    const text = tc.failures.map((f) => `${f.kind}${f.seq === undefined ? '' : ` seq ${f.seq}`}: ${f.detail}`);
    body.push(
      `    <${tag} message="${escapeXml(message)}" type="${escapeXml(kinds)}">${escapeXml(text.join('\n'))}</${tag}>`,
    );
  }
  return [`${head}>`, ...body, '  </testcase>'].join('\n');
}

/** The test cases of a run, and why the run as a whole cannot be judged (when it cannot). */
interface JUnitCases {
  cases: TestCase[];
  unjudged?: string;
}

/** Hands out each failure once: to the first test case whose `match` takes it. */
type FailureTaker = (match: (f: Failure) => boolean) => Failure[];

function junitCases(report: CheckReport): JUnitCases {
  const base = `picluster.${report.scenario}`;
  const remaining = new Set(report.failures);
  const take: FailureTaker = (match) => {
    const taken = [...remaining].filter(match);
    for (const f of taken) remaining.delete(f);
    return taken;
  };
  const runProblems = report.inconclusive.filter(isRunLevel);
  const interruption = runProblems.find((x) => x.kind === 'interrupted');
  // A run that cannot be judged as a whole passes no check: each is skipped with the reason.
  const unjudged = runProblems.length === 0 ? undefined : `not judged: ${runProblems.map((x) => x.detail).join('; ')}`;
  const cases: TestCase[] = [];
  cases.push({
    classname: `${base}.run`,
    name: 'run record is usable, the run was not interrupted, and every fault was carried out',
    failures: runProblems.filter((x) => x.kind !== 'interrupted'),
    error: true,
    skipped: interruption?.detail,
  });
  const messageKinds = new Set(['missing', 'duplicated', 'out_of_order', 'unexpected', 'wrong_content']);
  for (const n of report.nodes) {
    cases.push({
      classname: `${base}.messages`,
      name: `${n.name} (${n.node}): ${n.sent} sent, each logged once`,
      failures: take((f) => f.node === n.name && messageKinds.has(f.kind)),
    });
    cases.push({
      classname: `${base}.disconnects`,
      name: `${n.name} (${n.node}): no spurious disconnect, one per connection`,
      failures: take(
        (f) =>
          f.node === n.name &&
          (f.kind === 'spurious_disconnect' ||
            f.kind === 'duplicated_disconnect' ||
            (f.kind === 'missing_disconnect' && f.fault === undefined)),
      ),
    });
  }
  for (const e of report.expectations) cases.push(faultCase(report, e, take));
  for (const d of report.delayChecks) cases.push(delayCase(report, d, take));
  const rest = [...remaining];
  if (rest.length > 0) cases.push({ classname: `${base}.other`, name: 'messages from unknown nodes', failures: rest });
  if (unjudged !== undefined) for (const c of cases.slice(1)) c.skipped ??= unjudged;
  return { cases, unjudged };
}

function faultCase(report: CheckReport, e: ExpectationResult, take: FailureTaker): TestCase {
  const kinds =
    e.check === 'disconnect' ? ['missing_disconnect', 'wrong_reason', 'late_disconnect'] : ['not_seen_again'];
  const expected =
    e.check === 'disconnect' ? `disconnect ${e.expect} (${e.reasons?.join('|') ?? 'none'})` : 'seen again';
  const slow = report.inconclusive.find(
    (x) => x.kind === 'slow_confirmation' && x.fault === e.fault.index && x.node === e.node,
  );
  return {
    classname: `picluster.${report.scenario}.faults`,
    name: `${faultName(e)}: ${e.node} ${expected}`,
    failures: take((f) => f.fault === e.fault.index && f.node === e.node && kinds.includes(f.kind)),
    skipped:
      e.expect === 'none'
        ? (e.note ?? 'nothing expected')
        : slow !== undefined
          ? `inconclusive: ${slow.detail}`
          : undefined,
  };
}

function delayCase(report: CheckReport, d: DelayCheck, take: FailureTaker): TestCase {
  return {
    classname: `picluster.${report.scenario}.delays`,
    name: `${faultName(d)}: ${d.node} messages show the ${d.delayMs} ms delay`,
    failures: take((f) => f.kind === 'delay_not_seen' && f.fault === d.fault.index && f.node === d.node),
    skipped: d.status === 'not_applicable' ? (d.note ?? 'not checked') : undefined,
  };
}

/**
 * A JUnit report: one testsuite named `runName`, a testcase per slave for its
 * messages and one for its disconnects, one per fault expectation, and one per delay towards the master.
 */
export function toJUnitXml(report: CheckReport, runName: string): string {
  const { cases, unjudged } = junitCases(report);
  const failures = cases.filter((c) => c.failures.length > 0 && c.error !== true).length;
  const errors = cases.filter((c) => c.failures.length > 0 && c.error === true).length;
  const skipped = cases.filter((c) => c.skipped !== undefined && c.failures.length === 0).length;
  const unjudgedNote = unjudged === undefined ? [] : [['inconclusive', unjudged] as const];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="${escapeXml(runName)}" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" timestamp="${escapeXml(report.startedAt)}">`,
    '  <properties>',
    ...(
      [
        ['scenario', report.scenario],
        ['backend', report.backend],
        ['verdict', report.verdict],
        ['heartbeatIntervalMs', String(report.heartbeatIntervalMs)],
        ['heartbeatTimeoutMs', String(report.heartbeatTimeoutMs)],
        ...unjudgedNote,
      ] as const
    ).map(([name, value]) => `    <property name="${name}" value="${escapeXml(value)}"/>`),
    '  </properties>',
    ...cases.map(testCaseXml),
    '</testsuite>',
    '',
  ].join('\n');
}

/** What {@link writeReports} writes. */
export interface WriteReportsOptions {
  /**
   * `report.html`, drawn from the run directory's logs: `true` always (a
   * directory without a run is an error), `false` never. Default: when the
   * directory holds a run (its `run.json`), as it does for the runner and
   * `picluster check`; a bare directory gets the other two files only.
   */
  html?: boolean;
}

/** Writes `report.json`, `junit.xml` and `report.html` into the run directory; returns their paths. */
export async function writeReports(
  dir: string,
  report: CheckReport,
  options: WriteReportsOptions = {},
): Promise<string[]> {
  const json = join(dir, REPORT_FILES.json);
  const junit = join(dir, REPORT_FILES.junit);
  await writeFile(json, JSON.stringify(report, null, 2) + '\n');
  await writeFile(junit, toJUnitXml(report, basename(resolve(dir))));
  if (!(options.html ?? existsSync(join(dir, RUN_FILES.info)))) return [json, junit];
  return [json, junit, await writeHtmlReport(dir, report)];
}

/** Writes `report.html` into the run directory `dir`, judged as `report`; returns its path. */
export async function writeHtmlReport(dir: string, report: CheckReport): Promise<string> {
  const html = join(dir, REPORT_FILES.html);
  await writeFile(html, await htmlReport(dir, report));
  return html;
}
