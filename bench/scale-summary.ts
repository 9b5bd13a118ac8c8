/**
 * The pure half of `npm run bench:scale` (bench/scale.ts): the scenario it
 * writes for a slave count and a detector, one table row from a run's
 * `report.json` and `run.json`, the table, and the phi-vs-fixed lines.
 */
import type { CheckReport, PeakRss } from '../src/orchestrator';
import { fmt, tail, type Tail } from './stats';

export const SCALE_DETECTORS = ['fixed', 'phi'] as const;
export type ScaleDetector = (typeof SCALE_DETECTORS)[number];

/** The scenario's heartbeat interval; the master's timeout is the default 3 × it. */
export const SCALE_HEARTBEAT_MS = 1000;
/**
 * How long each pause and cut lasts: longer than the checker's bound for a
 * cut (timeout 3 s + interval 1 s + slack 1 s), so the master must detect
 * every one, and the checker turns each into a `must` expectation.
 */
export const SCALE_FAULT_MS = 6000;
/** Slaves paused, and as many cut off (no FIN), each one by name. */
export const SCALE_FAULTED_PER_KIND = 13;
/**
 * From one fault's start to the next on the same slave: the fault, then up
 * to the slave's longest reconnect backoff (5 s) to be back before the next.
 * A slave that is not back is no sample (the checker expects no timeout of a
 * slave that is not connected), never a failure.
 */
export const SCALE_CYCLE_MS = 12_000;
/** When the first faults start: after the run's first beats. */
export const SCALE_FIRST_FAULT_MS = 3000;
/** The shortest run the schedule fits in: a fault from 3 s, healed 6 s before the end. */
export const SCALE_MIN_SECONDS = 20;
/** The fewest slaves: the named ones must be distinct, with untouched slaves between them. */
export const SCALE_MIN_SLAVES = 100;

/** The slaves a run faults: `2 × SCALE_FAULTED_PER_KIND` names spread evenly over `slave-1` … `slave-<slaves>`. */
export function faultedSlaves(slaves: number): string[] {
  const count = 2 * SCALE_FAULTED_PER_KIND;
  return Array.from({ length: count }, (_, i) => `slave-${Math.round(((i + 1) * slaves) / (count + 1))}`);
}

/**
 * When each faulted slave's faults start, in ms: every {@link SCALE_CYCLE_MS}
 * from its own offset, the offsets spread over what the run leaves of one
 * cycle, so the faults land at every point of the slaves' heartbeat intervals
 * and not all at once; the last healed {@link SCALE_FAULT_MS} before the end.
 * At 60 s: four faults of each of the 26 slaves, 104 detections a run, so
 * that p99 is a percentile and not the maximum (nearest rank, n ≥ 100).
 */
export function faultStarts(targets: number, seconds: number): number[][] {
  const span = seconds * 1000 - 2 * SCALE_FAULT_MS - SCALE_FIRST_FAULT_MS;
  const cycles = Math.floor(span / SCALE_CYCLE_MS) + 1;
  const spread = Math.min(SCALE_CYCLE_MS, span - (cycles - 1) * SCALE_CYCLE_MS);
  return Array.from({ length: targets }, (_, i) => {
    const offset = SCALE_FIRST_FAULT_MS + Math.round((i * spread) / targets / 100) * 100;
    return Array.from({ length: cycles }, (_, cycle) => offset + cycle * SCALE_CYCLE_MS);
  });
}

/**
 * The scenario for `slaves` slaves under `detector`, `seconds` long: the
 * faulted slaves alternate between pauses and cuts, each faulted again every
 * {@link SCALE_CYCLE_MS} ({@link faultStarts}).
 */
export function scaleScenarioYaml(slaves: number, detector: ScaleDetector, seconds: number): string {
  const targets = faultedSlaves(slaves);
  const starts = faultStarts(targets.length, seconds);
  const events = targets.flatMap((target, i) => {
    const [start, end] = i % 2 === 0 ? ['pause', 'unpause'] : ['disconnect', 'reconnect'];
    return starts[i]!.flatMap((at) => [
      { at, line: `  - { at: ${at}ms, action: ${start}, target: ${target} }` },
      { at: at + SCALE_FAULT_MS, line: `  - { at: ${at + SCALE_FAULT_MS}ms, action: ${end}, target: ${target} }` },
    ]);
  });
  return [
    `# Written by npm run bench:scale: ${slaves} slaves, detector ${detector}, ${seconds} s.`,
    `name: scale-${slaves}-${detector}`,
    `slaves: ${slaves}`,
    `heartbeat_interval: ${SCALE_HEARTBEAT_MS}ms`,
    `detector: ${detector}`,
    `duration: ${seconds}s`,
    'events:',
    ...events.sort((a, b) => a.at - b.at).map((event) => event.line),
    '',
  ].join('\n');
}

/** What one run left behind, as bench/scale.ts read it. */
export interface ScaleRun {
  slaves: number;
  detector: ScaleDetector;
  /** From spawning `picluster run` until it exited, in ms. */
  wallMs: number;
  runDir: string;
  report: Pick<CheckReport, 'verdict' | 'startedAt' | 'endedAt' | 'nodes' | 'expectations' | 'failures'>;
  /** `run.json` `peakRss`; unset where not measured. */
  peakRss?: PeakRss;
}

/** One line of the table. */
export interface ScaleRow {
  slaves: number;
  detector: ScaleDetector;
  verdict: CheckReport['verdict'];
  wallMs: number;
  /** The report's span (`startedAt` … `endedAt`), in ms: what rates and CPU shares are over. */
  spanMs: number;
  masterCpuMs: number | null;
  masterPeakBytes: number | null;
  slavePeakTotalBytes: number | null;
  slaveProcesses: number | null;
  /**
   * Messages the master logged (the nodes' `logged`), per second from the
   * first sent to the last logged: start-up's messages count, so its time
   * does too (the report's span where the nodes do not say).
   */
  loggedPerSecond: number;
  /** Detection latency of the pauses and cuts the master was seen to detect, in ms. */
  detection: Tail;
  /** Pause and cut disconnect expectations: how many there were. */
  detectionsExpected: number;
  /** `spurious_disconnect` failures: disconnects no fault explains. */
  falseDisconnects: number;
  runDir: string;
}

const DETECTED_ACTIONS: ReadonlySet<string> = new Set(['pause', 'disconnect']);

/** From the first message any node sent to the last one the master logged, in ms; undefined if no node says. */
function loggedSpanMs(nodes: CheckReport['nodes']): number | undefined {
  const first = Math.min(...nodes.map((n) => (n.firstSentAt === undefined ? Infinity : Date.parse(n.firstSentAt))));
  const last = Math.max(...nodes.map((n) => (n.lastLoggedAt === undefined ? -Infinity : Date.parse(n.lastLoggedAt))));
  return Number.isFinite(first) && Number.isFinite(last) ? last - first : undefined;
}

function perSecond(count: number, ms: number): number {
  return ms > 0 ? count / (ms / 1000) : NaN;
}

/** The table row for one run. */
export function summarizeRun(run: ScaleRun): ScaleRow {
  const { report, peakRss } = run;
  const spanMs = Date.parse(report.endedAt) - Date.parse(report.startedAt);
  const detections = report.expectations.filter(
    (e) => e.check === 'disconnect' && DETECTED_ACTIONS.has(e.fault.action),
  );
  const logged = report.nodes.reduce((sum, node) => sum + node.logged, 0);
  return {
    slaves: run.slaves,
    detector: run.detector,
    verdict: report.verdict,
    wallMs: run.wallMs,
    spanMs,
    masterCpuMs: peakRss?.masterCpuMs ?? null,
    masterPeakBytes: peakRss?.masterBytes ?? null,
    slavePeakTotalBytes: peakRss?.slaveTotalBytes ?? null,
    slaveProcesses: peakRss?.slaveProcesses ?? null,
    loggedPerSecond: perSecond(logged, loggedSpanMs(report.nodes) ?? spanMs),
    detection: tail(detections.flatMap((e) => (e.seen === undefined ? [] : [e.seen.latencyMs]))),
    detectionsExpected: detections.length,
    falseDisconnects: report.failures.filter((f) => f.kind === 'spurious_disconnect').length,
    runDir: run.runDir,
  };
}

const mib = (bytes: number | null): string => (bytes === null ? '–' : `${fmt(bytes / 2 ** 20)} MiB`);
const ms = (value: number): string => (Number.isNaN(value) ? '–' : fmt(value));

/** The table's columns, in order: a header and how a row fills it. */
const COLUMNS: ReadonlyArray<{ header: string; cell: (row: ScaleRow) => string }> = [
  { header: 'slaves', cell: (r) => fmt(r.slaves) },
  { header: 'detector', cell: (r) => r.detector },
  { header: 'verdict', cell: (r) => r.verdict.toUpperCase() },
  { header: 'wall s', cell: (r) => fmt(r.wallMs / 1000, 1) },
  {
    header: 'master CPU s (%)',
    cell: (r) =>
      r.masterCpuMs === null ? '–' : `${fmt(r.masterCpuMs / 1000, 1)} (${fmt((100 * r.masterCpuMs) / r.spanMs)}%)`,
  },
  { header: 'master peak RSS', cell: (r) => mib(r.masterPeakBytes) },
  {
    header: 'slave peak RSS (procs)',
    cell: (r) => (r.slaveProcesses === null ? '–' : `${mib(r.slavePeakTotalBytes)} (${r.slaveProcesses})`),
  },
  { header: 'logged/s', cell: (r) => fmt(r.loggedPerSecond) },
  {
    header: 'detected',
    cell: (r) => `${r.detection.n}/${r.detectionsExpected}`,
  },
  {
    header: 'detection p50/p99/max ms',
    cell: (r) => `${ms(r.detection.p50)} / ${ms(r.detection.p99)} / ${ms(r.detection.max)}`,
  },
  { header: 'false disc.', cell: (r) => fmt(r.falseDisconnects) },
];

/** The table: a header line and one line per row, columns padded to their widest cell. */
export function formatScaleTable(rows: readonly ScaleRow[]): string[] {
  const cells = [COLUMNS.map((c) => c.header), ...rows.map((row) => COLUMNS.map((c) => c.cell(row)))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells.map((line) =>
    line
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

const ratio = (phi: number, fixed: number): string =>
  fixed > 0 && Number.isFinite(phi) ? `${fmt(phi / fixed, 2)}×` : '–';

/**
 * Per slave count with both detectors: phi's detection p50 and p99 as a share
 * of fixed's, when both runs had as many false disconnects (a detector that
 * suspects sooner by also suspecting wrongly has not won); otherwise why not.
 */
export function phiVsFixed(rows: readonly ScaleRow[]): string[] {
  const lines: string[] = [];
  for (const slaves of [...new Set(rows.map((r) => r.slaves))]) {
    const fixed = rows.find((r) => r.slaves === slaves && r.detector === 'fixed');
    const phi = rows.find((r) => r.slaves === slaves && r.detector === 'phi');
    if (fixed === undefined || phi === undefined) continue;
    const head = `phi vs fixed at ${fmt(slaves)} slaves:`;
    if (phi.falseDisconnects !== fixed.falseDisconnects) {
      lines.push(
        `${head} not compared, false disconnects differ (phi ${phi.falseDisconnects}, fixed ${fixed.falseDisconnects})`,
      );
    } else if (phi.detection.n === 0 || fixed.detection.n === 0) {
      lines.push(`${head} not compared, a run detected nothing (phi ${phi.detection.n}, fixed ${fixed.detection.n})`);
    } else {
      lines.push(
        `${head} detection p50 ${ratio(phi.detection.p50, fixed.detection.p50)} (${ms(phi.detection.p50)} vs ${ms(fixed.detection.p50)} ms), ` +
          `p99 ${ratio(phi.detection.p99, fixed.detection.p99)} (${ms(phi.detection.p99)} vs ${ms(fixed.detection.p99)} ms), ` +
          `both with ${phi.falseDisconnects} false disconnects`,
      );
    }
  }
  return lines;
}
