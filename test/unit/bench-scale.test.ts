import {
  faultedSlaves,
  faultStarts,
  formatScaleTable,
  phiVsFixed,
  SCALE_FAULT_MS,
  SCALE_HEARTBEAT_MS,
  scaleScenarioYaml,
  summarizeRun,
  type ScaleRow,
  type ScaleRun,
} from '../../bench/scale-summary';
import { parseScenario } from '../../src/orchestrator';
import { cutBound } from '../../src/orchestrator/bounds';
import type { ExpectationResult, Failure, NodeRow } from '../../src/orchestrator/check-result';

describe('bench:scale scenario', () => {
  it.each([
    [100, 20, 1],
    [300, 20, 1],
    [1000, 60, 4],
    [10_000, 60, 4],
  ])(
    '%i slaves, %i s: 13 named slaves paused and 13 cut, %i times each, each fault long enough to be detected',
    (slaves, seconds, times) => {
      const scenario = parseScenario(scaleScenarioYaml(slaves, 'phi', seconds), 'scale.yaml');
      expect(scenario).toMatchObject({ slaves, heartbeatIntervalMs: SCALE_HEARTBEAT_MS, durationMs: seconds * 1000 });
      expect(scenario.detector).toMatchObject({ kind: 'phi' });
      const starts = scenario.events.filter((e) => e.action === 'pause' || e.action === 'disconnect');
      expect(starts.filter((e) => e.action === 'pause')).toHaveLength(13 * times);
      expect(starts.filter((e) => e.action === 'disconnect')).toHaveLength(13 * times);
      const targets = [...new Set(starts.map((e) => e.target))];
      expect(targets.sort()).toEqual(faultedSlaves(slaves).sort());
      expect(targets).toHaveLength(26);
      for (const target of targets) {
        const n = Number(target.replace('slave-', ''));
        expect(n).toBeGreaterThanOrEqual(1);
        expect(n).toBeLessThanOrEqual(slaves);
        // One kind of fault per slave: a pause is healed by an unpause, a cut by a reconnect.
        expect(new Set(starts.filter((e) => e.target === target).map((e) => e.action)).size).toBe(1);
      }
      // The checker must see every one disconnect: each lasts past the cut bound (timeout 3 × the interval).
      const bound = cutBound({ heartbeatIntervalMs: SCALE_HEARTBEAT_MS, heartbeatTimeoutMs: 3 * SCALE_HEARTBEAT_MS });
      expect(SCALE_FAULT_MS).toBeGreaterThan(bound.ms);
      for (const start of starts) {
        const healing = start.action === 'pause' ? 'unpause' : 'reconnect';
        const end = scenario.events.find(
          (e) => e.action === healing && e.target === start.target && e.atMs >= start.atMs,
        )!;
        expect(end.atMs - start.atMs).toBe(SCALE_FAULT_MS);
        // Healed early enough for the recovery to be seen before the run ends.
        expect(end.atMs).toBeLessThanOrEqual(scenario.durationMs - SCALE_FAULT_MS);
        // The slave's next fault leaves it the longest reconnect backoff (5 s) to come back.
        const next = starts.find((e) => e.target === start.target && e.atMs > start.atMs);
        if (next !== undefined) expect(next.atMs - end.atMs).toBeGreaterThanOrEqual(5000);
      }
    },
  );

  it('spreads the faults over the heartbeat interval, and has p99 a percentile at 60 s', () => {
    const starts = faultStarts(26, 60);
    expect(starts.flat()).toHaveLength(104);
    // Nearest rank: with 100 values or more, p99 is not the maximum.
    expect(Math.ceil(0.99 * starts.flat().length)).toBeLessThan(starts.flat().length);
    const phases = new Set(starts.map((s) => s[0]! % SCALE_HEARTBEAT_MS));
    expect(phases.size).toBeGreaterThanOrEqual(8);
  });

  it('names its detector', () => {
    expect(parseScenario(scaleScenarioYaml(100, 'fixed', 20), 'scale.yaml').detector).toEqual({ kind: 'fixed' });
  });
});

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number): string => new Date(T0 + ms).toISOString();

function expectation(
  action: ExpectationResult['fault']['action'],
  check: ExpectationResult['check'],
  latencyMs?: number,
): ExpectationResult {
  return {
    fault: { index: 0, action, target: 'slave-1', atMs: 0 },
    node: 'slave-1',
    nodeId: 'slave-1',
    check,
    expect: 'must',
    from: iso(0),
    deadline: iso(5000),
    bound: '',
    ...(latencyMs === undefined ? {} : { seen: { at: iso(latencyMs), latencyMs } }),
    status: latencyMs === undefined ? 'fail' : 'pass',
  };
}

const node = (logged: number): NodeRow =>
  ({ name: 'slave-1', node: 'slave-1', logged, sent: logged }) as unknown as NodeRow;

const spurious: Failure = { node: 'slave-9', kind: 'spurious_disconnect', detail: '' };

function run(overrides: Partial<ScaleRun> = {}): ScaleRun {
  return {
    slaves: 100,
    detector: 'fixed',
    wallMs: 31_000,
    runDir: '/tmp/x/scale-100-fixed',
    report: {
      verdict: 'pass',
      startedAt: iso(0),
      endedAt: iso(20_000),
      nodes: [node(1000), node(600)],
      expectations: [
        expectation('pause', 'disconnect', 3100),
        expectation('disconnect', 'disconnect', 2900),
        expectation('pause', 'disconnect', 3500),
        // Neither a pause nor a cut, or not a detection: not counted.
        expectation('kill', 'disconnect', 5),
        expectation('pause', 'recovery', 900),
        // A cut the master never detected: expected, not seen.
        expectation('disconnect', 'disconnect'),
      ],
      failures: [spurious, { node: 'slave-1', kind: 'missing', detail: '' }, spurious],
    },
    peakRss: {
      masterBytes: 80 * 2 ** 20,
      masterCpuMs: 5000,
      slaveProcesses: 7,
      slaveMaxBytes: 60 * 2 ** 20,
      slaveTotalBytes: 300 * 2 ** 20,
    },
    ...overrides,
  };
}

describe('summarizeRun', () => {
  it("counts messages logged per second from the first sent to the last logged, start-up's included", () => {
    const timed = (logged: number, from: number, to: number): NodeRow =>
      ({ ...node(logged), firstSentAt: iso(from), lastLoggedAt: iso(to) }) as NodeRow;
    const base = run();
    const row = summarizeRun(
      run({ report: { ...base.report, nodes: [timed(1000, -12_000, 19_000), timed(600, -10_000, 20_000)] } }),
    );
    expect(row.loggedPerSecond).toBe(50);
    expect(row.spanMs).toBe(20_000);
  });

  it('takes detection from the pause and cut disconnect expectations seen, and false disconnects from spurious_disconnect', () => {
    const row = summarizeRun(run());
    expect(row.detection).toMatchObject({ n: 3, p50: 3100, p99: 3500, max: 3500 });
    expect(row.detectionsExpected).toBe(4);
    expect(row.falseDisconnects).toBe(2);
    expect(row.spanMs).toBe(20_000);
    // The nodes do not say when they first sent: over the report's span.
    expect(row.loggedPerSecond).toBe(80);
    expect(row).toMatchObject({
      verdict: 'pass',
      masterCpuMs: 5000,
      masterPeakBytes: 80 * 2 ** 20,
      slavePeakTotalBytes: 300 * 2 ** 20,
      slaveProcesses: 7,
    });
  });

  it('leaves what run.json did not measure empty', () => {
    const withoutRss = run();
    delete withoutRss.peakRss;
    const row = summarizeRun(withoutRss);
    expect(row).toMatchObject({ masterCpuMs: null, masterPeakBytes: null, slavePeakTotalBytes: null });
    const cells = formatScaleTable([row])[1]!;
    expect(cells).toContain('–');
  });
});

describe('formatScaleTable', () => {
  it('prints a header and a row per run, columns aligned', () => {
    const rows = [summarizeRun(run()), summarizeRun(run({ slaves: 10_000, detector: 'phi', wallMs: 95_500 }))];
    const lines = formatScaleTable(rows);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^slaves\s+detector\s+verdict\s+wall s\s+master CPU s \(%\)/);
    expect(lines[0]).toContain('false disc.');
    expect(new Set(lines.map((line) => line.length)).size).toBe(1);
    expect(lines[1]).toMatch(
      /^100\s+fixed\s+PASS\s+31\.0\s+5\.0 \(25%\)\s+80 MiB\s+300 MiB \(7\)\s+80\s+3\/4\s+3,100 \/ 3,500 \/ 3,500\s+2$/,
    );
    expect(lines[2]).toMatch(/^10,000\s+phi\s+PASS\s+95\.5/);
  });
});

describe('phiVsFixed', () => {
  const row = (detector: 'fixed' | 'phi', p50: number, p99: number, falseDisconnects = 0): ScaleRow => ({
    ...summarizeRun(run({ detector })),
    detection: { n: 6, p50, p99, p999: p99, max: p99 },
    falseDisconnects,
  });

  it('gives phi over fixed for p50 and p99 when both had as many false disconnects', () => {
    expect(phiVsFixed([row('fixed', 3000, 3800), row('phi', 1500, 1900)])).toEqual([
      'phi vs fixed at 100 slaves: detection p50 0.50× (1,500 vs 3,000 ms), p99 0.50× (1,900 vs 3,800 ms), both with 0 false disconnects',
    ]);
  });

  it('does not compare runs whose false disconnects differ', () => {
    expect(phiVsFixed([row('fixed', 3000, 3800), row('phi', 1500, 1900, 4)])).toEqual([
      'phi vs fixed at 100 slaves: not compared, false disconnects differ (phi 4, fixed 0)',
    ]);
  });

  it('prints nothing for a slave count run under one detector only', () => {
    expect(phiVsFixed([row('phi', 1500, 1900)])).toEqual([]);
  });
});
