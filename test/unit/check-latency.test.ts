import { runContext } from '../../src/orchestrator/check';
import {
  DELAY_CHECK_MIN_MESSAGES,
  DELAY_CHECK_MIN_MS,
  DELAY_WINDOW_RULES,
  delayWindows,
  expectedRange,
  LatencyHistogram,
  type LatencyJudgement,
} from '../../src/orchestrator/check/latency';
import { checkRun, type CheckReport, type RunLogLine, type RunRecord } from '../../src/orchestrator/checker';
import type { LinkDirection } from '../../src/orchestrator/link-fault';
import { toJUnitXml } from '../../src/orchestrator/junit';
import { formatTable, messageLatencyLine } from '../../src/orchestrator/report';
import type { Action, TimelineEntry } from '../../src/orchestrator/types';

// ---------------------------------------------------------------------------
// Runs built by hand: each slave sends a hello, then a heartbeat every
// interval; the master logs each message `latency(sentAt)` ms later, never
// before the one sent ahead of it on the connection (TCP keeps the order).

const T0 = Date.parse('2025-03-14T09:00:00.000Z');
const iso = (ms: number): string => new Date(T0 + ms).toISOString();

/** Latency in ms of a message a slave sends `at` ms into the run. */
type LatencyOf = (at: number) => number;

interface RunSpec {
  /** Scenario name -> its latency. */
  slaves: Record<string, LatencyOf>;
  intervalMs?: number;
  durationMs?: number;
  timeline?: TimelineEntry[];
}

function buildRun(spec: RunSpec): RunRecord {
  const intervalMs = spec.intervalMs ?? 100;
  const durationMs = spec.durationMs ?? 8000;
  const master: RunLogLine[] = [];
  const slaves: Record<string, RunLogLine[]> = {};
  const nodes: Record<string, string> = {};
  const line = (t: number, event: string, fields: Record<string, unknown>): RunLogLine => ({
    timestamp: iso(t),
    level: 'info',
    event,
    message: event,
    ...fields,
  });
  master.push(line(0, 'listening', { port: 9000 }));
  Object.entries(spec.slaves).forEach(([name, latency], i) => {
    const node = `node-${i + 1}`;
    const conn = i + 1;
    nodes[name] = node;
    const start = 10 + i;
    const log: RunLogLine[] = [line(5, 'starting', { node }), line(start, 'connected', { node })];
    master.push(line(start, 'connect', { conn, remote: `10.0.0.${conn}:4000`, node: `10.0.0.${conn}:4000` }));
    let loggedAt = start;
    let seq = 0;
    for (let t = start; t <= durationMs; t += intervalMs) {
      seq += 1;
      const type = seq === 1 ? 'hello' : 'heartbeat';
      const text = `${type} from ${node}`;
      log.push(line(t, 'sent', { node, seq, type, message: text }));
      loggedAt = Math.max(loggedAt, t + latency(t));
      master.push(line(loggedAt, 'message', { node, seq, type, conn, message: `Received message: ${text}` }));
    }
    log.push(line(durationMs + 5, 'stopped', { node, sent: seq }));
    master.push(line(Math.max(loggedAt, durationMs + 8), 'disconnect', { node, seq, reason: 'closed', conn }));
    slaves[name] = log;
  });
  master.push(line(durationMs + 6000, 'shutdown', { connections: 0, signal: 'SIGTERM' }));
  // Stable: lines of one moment keep the order they were written in.
  master.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
  return {
    info: {
      scenario: 'latency',
      backend: 'local',
      startedAt: iso(0),
      endedAt: iso(durationMs + 6100),
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: 3 * intervalMs,
      durationMs,
      nodes,
    },
    timeline: spec.timeline ?? [],
    master,
    slaves,
  };
}

/** A timeline entry requested at `atMs`, confirmed 10 ms later. */
function entry(action: Action, target: string, atMs: number, extra: Partial<TimelineEntry> = {}): TimelineEntry {
  return {
    action,
    target,
    atMs,
    requestedAt: iso(atMs),
    startedAt: iso(atMs),
    confirmedAt: iso(atMs + 10),
    ...extra,
  };
}

const delay = (
  target: string,
  atMs: number,
  delayMs: number,
  direction: LinkDirection = 'both',
  jitterMs?: number,
): TimelineEntry => entry('delay', target, atMs, { link: { direction, shape: { delayMs, jitterMs } } });
const heal = (target: string, atMs: number): TimelineEntry => entry('heal', target, atMs);

/** The latency phase's findings, as the checker reports them; any other failure shows too. */
function judge(run: RunRecord): LatencyJudgement {
  const { failures, messageLatency, delayChecks, inconclusive } = checkRun(run);
  expect(inconclusive).toEqual([]);
  return { failures, messageLatency, delayChecks };
}

/** 2 ms of usual latency; `extra` ms more for what is sent from `from` to `to`. */
const delayedBetween =
  (from: number, to: number, extra: number | ((at: number) => number), usual = 2): LatencyOf =>
  (at) =>
    usual + (at >= from && at <= to ? (typeof extra === 'number' ? extra : extra(at)) : 0);

/** A jitter of ±20 ms that averages out, drawn from the send time (no randomness in tests). */
const jittered = (delayMs: number) => (at: number) => delayMs + (((at * 7919) % 41) - 20);

// ---------------------------------------------------------------------------

describe('LatencyHistogram', () => {
  it('gives nearest-rank quantiles over whole ms', () => {
    const h = new LatencyHistogram();
    for (let v = 100; v >= 1; v -= 1) h.add(v);
    expect(h.summary()).toEqual({ count: 100, p50Ms: 50, p99Ms: 99, maxMs: 100 });
    const one = new LatencyHistogram();
    one.add(7);
    expect(one.summary()).toEqual({ count: 1, p50Ms: 7, p99Ms: 7, maxMs: 7 });
    expect(new LatencyHistogram().summary()).toEqual({ count: 0, p50Ms: null, p99Ms: null, maxMs: null });
  });

  it('counts repeated values by rank, negative ones included', () => {
    const h = new LatencyHistogram();
    h.add(-1, 3);
    h.add(4, 6);
    h.add(250, 1);
    // Ranks: 1-3 → -1, 4-9 → 4, 10 → 250.
    expect(h.quantile(30)).toBe(-1);
    expect(h.quantile(31)).toBe(4);
    expect(h.quantile(90)).toBe(4);
    expect(h.quantile(91)).toBe(250);
    const merged = new LatencyHistogram();
    merged.addAll(h);
    merged.addAll(h);
    expect(merged.summary()).toEqual({ count: 20, p50Ms: 4, p99Ms: 250, maxMs: 250 });
  });
});

describe('message latency in the report', () => {
  // slave-1: 3 ms each; slave-2: 1 … 10 ms in turn, 60 ms every 50th message.
  const run = (): RunRecord =>
    buildRun({
      slaves: {
        'slave-1': () => 3,
        'slave-2': (at) => (Math.floor(at / 100) % 50 === 49 ? 60 : (Math.floor(at / 100) % 10) + 1),
      },
      durationMs: 9999,
    });

  it('reports p50, p99 and max per node and over all, and keeps the verdict', () => {
    const report = checkRun(run());
    expect(report.verdict).toBe('pass');
    expect(report.messageLatency.nodes['slave-1']).toEqual({ count: 100, p50Ms: 3, p99Ms: 3, maxMs: 3 });
    // 100 messages: 98 of 1 … 10 ms (ten of each but 10 ms, of which 8), two of 60 ms.
    expect(report.messageLatency.nodes['slave-2']).toEqual({ count: 100, p50Ms: 5, p99Ms: 60, maxMs: 60 });
    expect(report.messageLatency.all).toEqual({ count: 200, p50Ms: 3, p99Ms: 10, maxMs: 60 });
    expect(report.delayChecks).toEqual([]);
  });

  it('shows one line in the table, with the slowest node', () => {
    const report = checkRun(run());
    expect(messageLatencyLine(report)).toBe(
      'Message latency: p50 3 ms, p99 10 ms, max 60 ms over 200 messages; slowest node slave-2 (p99 60 ms)',
    );
    expect(formatTable(report)).toContain(messageLatencyLine(report));
    expect(formatTable(report)).not.toContain('Delays');
  });

  it('counts a message from its first sent line to its first logging', () => {
    const r = buildRun({ slaves: { 'slave-1': () => 4 }, durationMs: 1000 });
    // The master logs seq 3 a second time, 500 ms later: the duplicate is a failure, not a latency.
    const third = r.master.find((l) => l.event === 'message' && l.seq === 3) as RunLogLine;
    r.master.push({ ...third, timestamp: iso(Date.parse(third.timestamp) - T0 + 500) });
    r.master.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    const report = checkRun(r);
    expect(report.failures.map((f) => f.kind)).toEqual(['duplicated']);
    expect(report.messageLatency.nodes['slave-1']).toEqual({ count: 10, p50Ms: 4, p99Ms: 4, maxMs: 4 });
  });

  it('names no slowest node when all share one p99', () => {
    const report = checkRun(buildRun({ slaves: { 'slave-1': () => 2, 'slave-2': () => 2 }, durationMs: 1000 }));
    expect(messageLatencyLine(report)).toBe('Message latency: p50 2 ms, p99 2 ms, max 2 ms over 20 messages');
  });

  it('says so when nothing was logged', () => {
    const r = buildRun({ slaves: { 'slave-1': () => 4 }, durationMs: 1000 });
    r.master = r.master.filter((l) => l.event !== 'message');
    expect(messageLatencyLine(checkRun(r))).toBe('Message latency: no message logged');
  });
});

describe('delay windows', () => {
  const { ctx } = runContext(buildRun({ slaves: { 'slave-1': () => 1 } }).info);

  it('opens at the delay confirmed towards the master and closes at the heal requested', () => {
    const windows = delayWindows(ctx, [delay('slave-1', 2000, 300), heal('slave-1', 6000)]);
    expect(windows).toEqual([
      expect.objectContaining({
        node: 'slave-1',
        from: T0 + 2010,
        to: T0 + 6000,
        delayMs: 300,
        closedBy: '#1 heal requested',
      }),
    ]);
    expect(windows[0]?.fault).toMatchObject({ index: 0, action: 'delay', target: 'slave-1', atMs: 2000 });
  });

  it('opens none for a delay from the master only, or one not carried out', () => {
    expect(delayWindows(ctx, [delay('slave-1', 2000, 300, 'from-master'), heal('slave-1', 6000)])).toEqual([]);
    const failed = { ...delay('slave-1', 2000, 300), confirmedAt: undefined, error: 'proxy gone' };
    expect(delayWindows(ctx, [failed, heal('slave-1', 6000)])).toEqual([]);
    expect(delayWindows(ctx, [entry('loss', 'slave-1', 2000, { link: { direction: 'both', shape: {} } })])).toEqual([]);
  });

  it("runs to the run's end without a heal, and a new delay ends the one before on its target", () => {
    const degrade = entry('degrade', 'slave-1', 4000, { link: { direction: 'to-master', shape: { delayMs: 500 } } });
    const windows = delayWindows(ctx, [delay('slave-1', 2000, 300), delay('slave-2', 2500, 200), degrade]);
    expect(windows.map((w) => [w.node, w.from - T0, w.to - ctx.runStart, w.delayMs, w.closedBy])).toEqual([
      ['slave-1', 2010, 4000, 300, '#2 degrade requested'],
      ['slave-2', 2510, ctx.runEnd - ctx.runStart, 200, "the run's end"],
      ['slave-1', 4010, ctx.runEnd - ctx.runStart, 500, "the run's end"],
    ]);
  });

  it('takes the action names from the rules it is given', () => {
    const rules = { opensDelay: (a: Action) => a === 'pause', closesDelay: (a: Action) => a === 'unpause' };
    const timeline = [
      entry('pause', 'slave-1', 1000, { link: { direction: 'both', shape: { delayMs: 150 } } }),
      entry('unpause', 'slave-1', 3000),
    ];
    expect(delayWindows(ctx, timeline, rules).map((w) => w.to - T0)).toEqual([3000]);
    expect(delayWindows(ctx, timeline, DELAY_WINDOW_RULES)).toEqual([]);
  });
});

describe('the injected-delay check', () => {
  /** slave-1 delayed by `latency` from 2 s to 6 s (a 300 ms delay, both ways), slave-2 undisturbed. */
  const delayedRun = (
    latency: number | ((at: number) => number),
    delayMs = 300,
    usual = 2,
    jitterMs?: number,
  ): RunRecord =>
    buildRun({
      slaves: { 'slave-1': delayedBetween(2010, 6000, latency, usual), 'slave-2': () => 1 },
      timeline: [delay('slave-1', 2000, delayMs, 'both', jitterMs), heal('slave-1', 6000)],
    });

  it('passes a 300 ± 50 ms delay that messages took', () => {
    const { failures, delayChecks } = judge(delayedRun(jittered(300), 300, 2, 50));
    expect(failures).toEqual([]);
    expect(delayChecks).toHaveLength(1);
    const [check] = delayChecks;
    expect(check).toMatchObject({
      node: 'slave-1',
      from: iso(2010),
      to: iso(6000),
      delayMs: 300,
      count: 37,
      baselineP50Ms: 2,
      judgedUntil: iso(5650),
      jitterMs: 50,
      withinMs: [200, 422],
      status: 'pass',
    });
    expect(check?.p50Ms).toBeGreaterThanOrEqual(290);
    expect(check?.p50Ms).toBeLessThanOrEqual(310);
  });

  it.each([
    ['5 ms', 5, 'the 37 messages sent in it took p50 7 ms; expected 240–362 ms'],
    ['5 s', 5000, 'the 37 messages sent in it took p50 5002 ms; expected 240–362 ms'],
  ])('fails a 300 ms delay whose messages took %s', (_label, latency, figures) => {
    const { failures, delayChecks } = judge(delayedRun(latency));
    expect(delayChecks[0]).toMatchObject({ status: 'fail', count: 37, withinMs: [240, 362] });
    expect(failures).toEqual([
      {
        node: 'slave-1',
        kind: 'delay_not_seen',
        fault: 0,
        detail: `slave-1: delay 300 ms from +2.010s to +6.000s: ${figures}`,
      },
    ]);
  });

  it('cannot confirm a delay fewer than 3 messages were sent under', () => {
    const run = buildRun({
      slaves: { 'slave-1': delayedBetween(2010, 2500, 300) },
      timeline: [delay('slave-1', 2000, 300), heal('slave-1', 2500)],
    });
    const { failures, delayChecks } = judge(run);
    expect(DELAY_CHECK_MIN_MESSAGES).toBe(3);
    // Sent at 2011 and 2111 ms.
    expect(delayChecks[0]).toMatchObject({ count: 2, status: 'fail' });
    expect(failures).toHaveLength(1);
    expect(failures[0]?.kind).toBe('delay_not_seen');
    expect(failures[0]?.detail).toMatch(
      /^slave-1: delay 300 ms from \+2\.010s to \+2\.500s: cannot confirm the delay: 2 message\(s\) sent from \+2\.010s to \+2\.200s /,
    );
  });

  it('opens no window for a delay from the master only', () => {
    const run = buildRun({
      slaves: { 'slave-1': () => 2 },
      timeline: [delay('slave-1', 2000, 300, 'from-master'), heal('slave-1', 6000)],
    });
    expect(judge(run)).toMatchObject({ failures: [], delayChecks: [] });
  });

  it('takes the baseline from the messages sent outside every window', () => {
    // 80 ms usual latency: a p50 of 420 ms is within 1.2 × 300 + 80 = 440 ms.
    const { failures, delayChecks } = judge(delayedRun(340, 300, 80));
    expect(failures).toEqual([]);
    expect(delayChecks[0]).toMatchObject({ baselineP50Ms: 80, p50Ms: 420, withinMs: [240, 440], status: 'pass' });
    // The same delay with the usual 2 ms: 342 ms is within 362 ms; 460 ms is not.
    expect(judge(delayedRun(340)).failures).toEqual([]);
    expect(judge(delayedRun(458)).delayChecks[0]).toMatchObject({ p50Ms: 460, status: 'fail' });
    expect(expectedRange(300, 0, null)).toEqual([240, 360]);
    expect(expectedRange(300, 0, -3)).toEqual([240, 360]);
    expect(expectedRange(300, 50, 12)).toEqual([200, 432]);
  });

  it('counts what was sent before the confirmation or in the last delay neither in the window nor in the baseline', () => {
    // Requested at 500 ms, confirmed at 650; healed at 7900: judged up to 5900 ms. What is sent
    // after that waits behind the delayed messages, and arrives at once with them.
    const run = buildRun({
      slaves: { 'slave-1': (at) => (at >= 650 && at <= 7900 ? 2050 : 50) },
      timeline: [{ ...delay('slave-1', 500, 2000, 'to-master'), confirmedAt: iso(650) }, heal('slave-1', 7900)],
    });
    const { failures, delayChecks, messageLatency } = judge(run);
    expect(failures).toEqual([]);
    expect(delayChecks[0]).toMatchObject({
      from: iso(650),
      judgedUntil: iso(5900),
      count: 52,
      p50Ms: 2050,
      baselineP50Ms: 50,
      withinMs: [1600, 2450],
      status: 'pass',
    });
    expect(messageLatency.nodes['slave-1']?.count).toBe(80);
  });

  /** A 300 ms delay of slave-1 from 1 s to `healAt`, and a cut of it from 1.5 s to 2 s. */
  const cutInDelay = (healAt: number): TimelineEntry[] => [
    entry('disconnect', 'slave-1', 1500),
    entry('reconnect', 'slave-1', 2000),
    delay('slave-1', 1000, 300),
    heal('slave-1', healAt),
  ];

  it("leaves out what was sent in another fault's in-flight window", () => {
    // A cut from 1.5 s to 2 s: what was sent in it is resent after the reconnect. Its in-flight
    // window runs from 1 s (500 ms before) to 4.01 s (the reconnect's confirmation + 2000 ms).
    const latency = (at: number): number =>
      2 + (at >= 1010 && at <= 9000 ? 300 : 0) + (at >= 1500 && at <= 2000 ? 2100 - at : 0);
    const run = buildRun({
      slaves: { 'slave-1': latency },
      durationMs: 12000,
      timeline: cutInDelay(9000),
    });
    const { failures, delayChecks } = judge(run);
    expect(failures).toEqual([]);
    // Judged: sent from 1.01 s to 8.7 s, but 1.011 … 4.011 s: 4.111 … 8.611 s.
    expect(delayChecks[0]).toMatchObject({ count: 46, disrupted: 31, p50Ms: 302, status: 'pass' });
  });

  it("does not judge a delay whose messages were nearly all sent in another fault's in-flight window", () => {
    const run = buildRun({
      slaves: { 'slave-1': (at) => 2 + (at >= 1010 && at <= 3000 ? 300 : 0) },
      timeline: cutInDelay(3000),
    });
    const { failures, delayChecks } = judge(run);
    expect(failures).toEqual([]);
    expect(delayChecks[0]).toMatchObject({ count: 0, disrupted: 17, status: 'not_applicable', withinMs: null });
    expect(delayChecks[0]?.note).toMatch(/^not checked: 17 of its 17 messages were sent in another fault's/);
  });

  it('reports a delay under the smallest checked one, without judging it', () => {
    const { failures, delayChecks } = judge(delayedRun(1, DELAY_CHECK_MIN_MS - 1));
    expect(failures).toEqual([]);
    expect(delayChecks[0]).toMatchObject({ delayMs: 99, status: 'not_applicable', withinMs: null, count: 39 });
  });

  it('judges each window on its own messages', () => {
    const run = buildRun({
      slaves: {
        'slave-1': (at) => 2 + (at >= 1010 && at <= 3000 ? 200 : 0) + (at >= 4010 && at <= 7000 ? 5 : 0),
      },
      timeline: [
        delay('slave-1', 1000, 200),
        heal('slave-1', 3000),
        delay('slave-1', 4000, 250),
        heal('slave-1', 7000),
      ],
    });
    const { failures, delayChecks } = judge(run);
    expect(delayChecks.map((d) => [d.fault.index, d.count, d.p50Ms, d.status])).toEqual([
      [0, 18, 202, 'pass'],
      [2, 28, 7, 'fail'],
    ]);
    expect(failures.map((f) => f.fault)).toEqual([2]);
  });
});

describe('delay checks in the reports', () => {
  /** The report of a run whose slave-1 took `latency` ms more under a 300 ms delay from 2 s to 6 s. */
  function reportWithDelay(latency: number): CheckReport {
    const slaves = { 'slave-1': delayedBetween(2010, 6000, latency), 'slave-2': () => 1 };
    return checkRun(buildRun({ slaves, timeline: [delay('slave-1', 2000, 300), heal('slave-1', 6000)] }));
  }

  it('shows a row per delay in the table', () => {
    const report = reportWithDelay(300);
    expect(report.verdict).toBe('pass');
    const table = formatTable(report);
    expect(table).toMatch(
      /^ {2}#0 delay slave-1 @2000ms +slave-1 +300 ms +\+2\.010s → \+6\.000s +\+5\.700s +37 +302 ms +2 ms +240–362 ms +ok +to #1 heal requested$/m,
    );
  });

  it('lists a failing delay among the failures, and as a failed JUnit case', () => {
    const report = reportWithDelay(5);
    expect(report.verdict).toBe('fail');
    expect(report.failures.map((f) => f.kind)).toEqual(['delay_not_seen']);
    expect(formatTable(report)).toMatch(/^\s+slave-1\s+delay_not_seen\s+-\s+slave-1: delay 300 ms .*took p50 7 ms/m);
    const xml = toJUnitXml(report, 'run-1');
    expect(xml).toMatch(
      /<testcase classname="picluster.latency.delays" name="#0 delay slave-1 @2000ms: slave-1 messages show the 300 ms delay" time="3.990">\n\s+<failure message="slave-1: delay 300 ms/,
    );
    expect(xml).toContain('failures="1"');
  });
});
