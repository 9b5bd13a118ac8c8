/**
 * The JUnit report of a check (`junit.xml`), for CI systems that show test
 * results: a test case per check the report holds, each with the span of time
 * its evidence lies in, the failures as the terminal's failure table words
 * them, and what cannot be judged as skipped. A pure function of the
 * `CheckReport`: no clock, no host, no I/O (report.ts writes the file).
 *
 * Each `time` (seconds, 3 decimals) is the span of the report's own times
 * that the case's evidence lies in, never past the run's end, where the
 * record stops (docs/checker.md, "JUnit"):
 * - the run case, a slave's disconnects (a spurious one may come at any
 *   time), failures of unknown nodes: the run, `startedAt` to `endedAt`;
 * - a slave's messages: its first `sent` line to the last time the master
 *   logged one of them, or to the run's end when one is missing or none was
 *   logged (a message is missing only once the run is over); the run when
 *   it sent nothing;
 * - a fault expectation: the fault's request to what was seen, or to the
 *   deadline when nothing was;
 * - a delay towards the master: its window, `from` to `to`.
 * The testsuite's `time` is the run's span.
 */
import {
  isRunLevel,
  type CheckReport,
  type DelayCheck,
  type ExpectationResult,
  type Failure,
  type Inconclusive,
  type LatencySummary,
  type NodeRow,
} from './checker';

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

/** `#3 kill slave-2 @1500ms`: a fault as the terminal's tables and the test cases name it. */
export function faultName(e: Pick<ExpectationResult, 'fault'>): string {
  const { index, action, target, atMs } = e.fault;
  return `#${index} ${action} ${target} @${atMs}ms`;
}

/** A row of the terminal's failure table: node, kind, `seq 5` or `-`, detail. */
export function problemCells(f: Failure | Inconclusive): string[] {
  return [f.node, f.kind, f.seq === undefined ? '-' : `seq ${f.seq}`, f.detail];
}

/** A failure's line in a test case: its row of the terminal's failure table, the cells two spaces apart, unpadded. */
export function problemText(f: Failure | Inconclusive): string {
  return problemCells(f).join('  ');
}

/** A span of time in ms since the epoch; NaN where the report has no usable time. */
interface Span {
  from: number;
  to: number;
}

const ms = (iso: string | undefined): number => (iso === undefined ? NaN : Date.parse(iso));

function runSpan(report: CheckReport): Span {
  return { from: ms(report.startedAt), to: ms(report.endedAt) };
}

/** `1.234`: a span in seconds, clipped to the run's end and never negative; `0.000` when it has no usable time. */
function spanSeconds(span: Span, runEnd: number): string {
  const to = Number.isFinite(runEnd) ? Math.min(span.to, runEnd) : span.to;
  const s = (to - span.from) / 1000;
  return Number.isFinite(s) ? Math.max(0, s).toFixed(3) : '0.000';
}

function messagesSpan(report: CheckReport, n: NodeRow): Span {
  const run = runSpan(report);
  const from = ms(n.firstSentAt);
  if (!Number.isFinite(from)) return run;
  const last = ms(n.lastLoggedAt);
  return { from, to: n.missing.length > 0 || !Number.isFinite(last) ? run.to : last };
}

function faultSpan(report: CheckReport, e: ExpectationResult): Span {
  const from = ms(e.fault.requestedAt ?? e.from);
  const seen = ms(e.seen?.at);
  const deadline = ms(e.deadline);
  // An unbounded deadline ("never") waits for the run's end.
  return { from, to: Number.isFinite(seen) ? seen : Number.isFinite(deadline) ? deadline : runSpan(report).to };
}

interface TestCase {
  classname: string;
  name: string;
  span: Span;
  failures: ReadonlyArray<Failure | Inconclusive>;
  /** `error` rather than `failure`: the record or the harness is at fault, not the master. */
  error?: boolean;
  /** Why it was not judged: nothing expected, or it cannot be judged. Never shown as passed. */
  skipped?: string;
}

function testCaseXml(tc: TestCase, runEnd: number): string {
  const time = spanSeconds(tc.span, runEnd);
  const head = `  <testcase classname="${escapeXml(tc.classname)}" name="${escapeXml(tc.name)}" time="${time}"`;
  if (tc.failures.length === 0 && tc.skipped === undefined) return `${head}/>`;
  const body: string[] = [];
  if (tc.failures.length === 0 && tc.skipped !== undefined)
    body.push(`    <skipped message="${escapeXml(tc.skipped)}"/>`);
  if (tc.failures.length > 0) {
    const tag = tc.error === true ? 'error' : 'failure';
    const kinds = [...new Set(tc.failures.map((f) => f.kind))].join(', ');
    const message = tc.failures.length === 1 ? (tc.failures[0]?.detail ?? kinds) : `${tc.failures.length} × ${kinds}`;
    const text = tc.failures.map(problemText).join('\n');
    body.push(`    <${tag} message="${escapeXml(message)}" type="${escapeXml(kinds)}">${escapeXml(text)}</${tag}>`);
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

const MESSAGE_KINDS: ReadonlySet<string> = new Set([
  'missing',
  'duplicated',
  'out_of_order',
  'unexpected',
  'wrong_content',
]);

function nodeCases(report: CheckReport, n: NodeRow, take: FailureTaker): TestCase[] {
  const base = `picluster.${report.scenario}`;
  return [
    {
      classname: `${base}.messages`,
      name: `${n.name} (${n.node}): ${n.sent} sent, each logged once`,
      span: messagesSpan(report, n),
      failures: take((f) => f.node === n.name && MESSAGE_KINDS.has(f.kind)),
    },
    {
      classname: `${base}.disconnects`,
      name: `${n.name} (${n.node}): no spurious disconnect, one per connection`,
      span: runSpan(report),
      failures: take(
        (f) =>
          f.node === n.name &&
          (f.kind === 'spurious_disconnect' ||
            f.kind === 'duplicated_disconnect' ||
            (f.kind === 'missing_disconnect' && f.fault === undefined)),
      ),
    },
  ];
}

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
    span: runSpan(report),
    failures: runProblems.filter((x) => x.kind !== 'interrupted'),
    error: true,
    skipped: interruption?.detail,
  });
  for (const n of report.nodes) cases.push(...nodeCases(report, n, take));
  for (const e of report.expectations) cases.push(faultCase(report, e, take));
  for (const d of report.delayChecks) cases.push(delayCase(report, d, take));
  const rest = [...remaining];
  if (rest.length > 0) {
    cases.push({
      classname: `${base}.other`,
      name: 'messages from unknown nodes',
      span: runSpan(report),
      failures: rest,
    });
  }
  if (unjudged !== undefined) for (const c of cases.slice(1)) c.skipped ??= unjudged;
  return { cases, unjudged };
}

function faultSkipped(report: CheckReport, e: ExpectationResult): string | undefined {
  if (e.expect === 'none') return e.note ?? 'nothing expected';
  if (e.status !== 'inconclusive') return undefined;
  const slow = report.inconclusive.find(
    (x) => x.kind === 'slow_confirmation' && x.fault === e.fault.index && x.node === e.node,
  );
  return `inconclusive: ${slow?.detail ?? e.note ?? 'cannot be judged'}`;
}

function faultCase(report: CheckReport, e: ExpectationResult, take: FailureTaker): TestCase {
  const kinds =
    e.check === 'disconnect' ? ['missing_disconnect', 'wrong_reason', 'late_disconnect'] : ['not_seen_again'];
  const expected =
    e.check === 'disconnect' ? `disconnect ${e.expect} (${e.reasons?.join('|') ?? 'none'})` : 'seen again';
  return {
    classname: `picluster.${report.scenario}.faults`,
    name: `${faultName(e)}: ${e.node} ${expected}`,
    span: faultSpan(report, e),
    failures: take((f) => f.fault === e.fault.index && f.node === e.node && kinds.includes(f.kind)),
    skipped: faultSkipped(report, e),
  };
}

function delayCase(report: CheckReport, d: DelayCheck, take: FailureTaker): TestCase {
  return {
    classname: `picluster.${report.scenario}.delays`,
    name: `${faultName(d)}: ${d.node} messages show the ${d.delayMs} ms delay`,
    span: { from: ms(d.from), to: ms(d.to) },
    failures: take((f) => f.kind === 'delay_not_seen' && f.fault === d.fault.index && f.node === d.node),
    skipped: d.status === 'not_applicable' ? (d.note ?? 'not checked') : undefined,
  };
}

/** A `<property>`: its name and value. */
type Property = readonly [name: string, value: string];

/** The property when it has a value; none when the value is unset or null. */
function optional(name: string, value: string | number | null | undefined): Property[] {
  return value === null || value === undefined ? [] : [[name, String(value)]];
}

/** A latency summary as properties `<prefix>.count`, `.p50Ms`, `.p99Ms`, `.maxMs`; a null figure is left out. */
function latencyProperties(prefix: string, s: LatencySummary & { p99Ms?: number | null }): Property[] {
  return [
    ...optional(`${prefix}.count`, s.count),
    ...optional(`${prefix}.p50Ms`, s.p50Ms),
    ...optional(`${prefix}.p99Ms`, s.p99Ms),
    ...optional(`${prefix}.maxMs`, s.maxMs),
  ];
}

/** The `<properties>` of a run: what ran, its verdict and its figures (docs/checker.md lists them). */
function junitProperties(report: CheckReport, unjudged?: string): Property[] {
  const sum = (of: (n: NodeRow) => number): string => String(report.nodes.reduce((t, n) => t + of(n), 0));
  return [
    ['scenario', report.scenario],
    ['backend', report.backend],
    ...optional('seed', report.seed),
    ['verdict', report.verdict],
    ['startedAt', report.startedAt],
    ['endedAt', report.endedAt],
    ['heartbeatIntervalMs', String(report.heartbeatIntervalMs)],
    ['heartbeatTimeoutMs', String(report.heartbeatTimeoutMs)],
    ['slaves', String(report.nodes.length)],
    ['messages.sent', sum((n) => n.sent)],
    ['messages.logged', sum((n) => n.logged)],
    ['messages.missing', sum((n) => n.missing.length)],
    ['messages.duplicated', sum((n) => n.duplicated.length)],
    ['messages.inFlight', sum((n) => n.inFlight.length)],
    ...latencyProperties('messageLatency', report.messageLatency.all),
    ...Object.entries(report.latency).flatMap(([group, s]) => latencyProperties(`detectionLatency.${group}`, s)),
    ['failures', String(report.failures.length)],
    ['inconclusiveChecks', String(report.inconclusive.length)],
    ...optional('interrupted', report.interrupted?.signal),
    ...optional('inconclusive', unjudged),
  ];
}

/** `2026-12-01T17:43:20`: the Ant JUnit schema's timestamp, in UTC, without a zone; the text as given if not a time. */
function junitTimestamp(iso: string): string {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? new Date(t).toISOString().slice(0, 19) : iso;
}

/**
 * A JUnit report: one testsuite named `runName` whose `time` is the run's
 * span, the run's properties, then a test case for the run record, one per
 * slave for its messages and one for its disconnects, one per fault
 * expectation, and one per delay towards the master. No `hostname`: the
 * report does not say which host ran the run, and the checker may run on
 * another.
 */
export function toJUnitXml(report: CheckReport, runName: string): string {
  const { cases, unjudged } = junitCases(report);
  const failures = cases.filter((c) => c.failures.length > 0 && c.error !== true).length;
  const errors = cases.filter((c) => c.failures.length > 0 && c.error === true).length;
  const skipped = cases.filter((c) => c.skipped !== undefined && c.failures.length === 0).length;
  const run = runSpan(report);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="${escapeXml(runName)}" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${spanSeconds(run, run.to)}" timestamp="${escapeXml(junitTimestamp(report.startedAt))}">`,
    '  <properties>',
    ...junitProperties(report, unjudged).map(
      ([name, value]) => `    <property name="${escapeXml(name)}" value="${escapeXml(value)}"/>`,
    ),
    '  </properties>',
    ...cases.map((c) => testCaseXml(c, run.to)),
    '</testsuite>',
    '',
  ].join('\n');
}
