import { parseScenario, ScenarioError } from '../../src/orchestrator/scenario';
import { scenarioToYaml } from '../../src/orchestrator/scenario-yaml';
import type { CheckReport, FailureKind, Verdict } from '../../src/orchestrator/check-result';
import { failureKindOf } from '../../src/orchestrator/shrink-run';
import {
  earlierTimes,
  pairUnits,
  shrinkSchedule,
  type ShrinkOptions,
  type ShrinkVerdict,
} from '../../src/orchestrator/shrink';
import type { Scenario, ScenarioEvent } from '../../src/orchestrator/types';

/**
 * Shrinking a failing schedule against stand-in judges: what fails is known
 * in advance, so the result is too.
 */

/** 30 events over 5 slaves: seed 56 draws kills of slave-4 (twice), slave-1 and slave-2, each with its start. */
const GENERATED = [
  'name: shrink-unit',
  'slaves: 5',
  'heartbeat_interval: 500ms',
  'heartbeat_timeout: 2s',
  'duration: 120s',
  'generate:',
  '  seed: 56',
  '  faults: [disconnect, kill, stop, restart, pause, master-restart]',
  '  rate: 15',
  '  min_gap: 1s',
  '  max_concurrent: 2',
  '',
].join('\n');

const scenario: Scenario = parseScenario(GENERATED, 'shrink-unit.yaml');
const events: ScenarioEvent[] = scenario.events.map(({ atMs, action, target }) => ({ atMs, action, target }));

/** The scenario validator on a candidate, as `picluster shrink` calls it. */
function valid(candidate: readonly ScenarioEvent[]): boolean {
  try {
    parseScenario(scenarioToYaml({ ...scenario, events: [...candidate] }), 'candidate.yaml');
    return true;
  } catch (err) {
    if (err instanceof ScenarioError) return false;
    throw err;
  }
}

const named = (action: string, target: string) => (e: ScenarioEvent) => e.action === action && e.target === target;
const killOf1 = named('kill', 'slave-1');
const killOf2 = named('kill', 'slave-2');

/** FAIL (kind `missing`) exactly when a kill of slave-1 and a kill of slave-2 are both in the schedule. */
function twoKills(calls: Array<readonly ScenarioEvent[]>): (c: readonly ScenarioEvent[]) => Promise<ShrinkVerdict> {
  return (candidate) => {
    calls.push(candidate);
    const failed = candidate.some(killOf1) && candidate.some(killOf2);
    return Promise.resolve({ failed, kind: failed ? 'missing' : 'pass' });
  };
}

function options(overrides: Partial<ShrinkOptions<ScenarioEvent>> = {}): ShrinkOptions<ScenarioEvent> {
  return { events, kind: 'missing', validate: valid, judge: twoKills([]), maxRuns: 60, ...overrides };
}

describe('the stand-in schedule', () => {
  it('has 30 valid events, one kill of slave-1 and one of slave-2', () => {
    expect(events).toHaveLength(30);
    expect(valid(events)).toBe(true);
    expect(events.filter(killOf1)).toHaveLength(1);
    expect(events.filter(killOf2)).toHaveLength(1);
  });
});

describe('shrinkSchedule', () => {
  it('returns exactly the two kills that make it fail, in fewer runs than the bound', async () => {
    const calls: Array<readonly ScenarioEvent[]> = [];
    const result = await shrinkSchedule(options({ judge: twoKills(calls), moveTimes: false, maxRuns: 30 }));
    expect(result.events).toEqual([events.find(killOf1), events.find(killOf2)]);
    expect(result.exhausted).toBe(false);
    expect(result.runs).toBe(calls.length);
    expect(result.runs).toBeLessThan(30);
    // Every judged candidate was valid; invalid ones were skipped, not run.
    expect(calls.every(valid)).toBe(true);
    expect(result.skipped).toBeGreaterThan(0);
  });

  it('then moves the two kills earlier, each to the time of the event before it', async () => {
    const result = await shrinkSchedule(options());
    expect(result.events.map(({ action, target }) => `${action} ${target}`)).toEqual(['kill slave-1', 'kill slave-2']);
    expect(result.events.map((e) => e.atMs)).toEqual([0, 0]);
    expect(valid(result.events)).toBe(true);
    expect(result.runs).toBeLessThan(60);
  });

  it('never judges, nor returns, an invalid schedule', async () => {
    const calls: Array<readonly ScenarioEvent[]> = [];
    // Fails whenever slave-4 is killed: its kills come with starts that must not be left alone.
    const judge = (candidate: readonly ScenarioEvent[]): Promise<ShrinkVerdict> => {
      calls.push(candidate);
      const failed = candidate.some(named('kill', 'slave-4'));
      return Promise.resolve({ failed, kind: failed ? 'missing' : 'pass' });
    };
    const result = await shrinkSchedule(options({ judge }));
    expect(calls.every(valid)).toBe(true);
    expect(valid(result.events)).toBe(true);
    expect(result.events.map(({ action, target }) => `${action} ${target}`)).toEqual(['kill slave-4']);
  });

  it('refuses a change whose failure is of another kind', async () => {
    // Any schedule with the two kills fails as `missing`; without slave-3's events it fails as `late_disconnect`.
    const judge = (candidate: readonly ScenarioEvent[]): Promise<ShrinkVerdict> => {
      const failed = candidate.some(killOf1) && candidate.some(killOf2);
      const slave3 = candidate.some((e) => e.target === 'slave-3');
      return Promise.resolve({ failed, kind: !failed ? 'pass' : slave3 ? 'missing' : 'late_disconnect' });
    };
    const result = await shrinkSchedule(options({ judge, moveTimes: false }));
    expect(result.events.some((e) => e.target === 'slave-3')).toBe(true);
    expect(result.events.some(killOf1) && result.events.some(killOf2)).toBe(true);
    expect(valid(result.events)).toBe(true);
    // Only slave-3's events stay besides the two kills: one of them, any one, keeps the kind.
    expect(result.events).toHaveLength(3);
  });

  it('stops at maxRuns and returns the smallest failing schedule found so far', async () => {
    for (const maxRuns of [0, 1, 3, 7]) {
      const calls: Array<readonly ScenarioEvent[]> = [];
      const result = await shrinkSchedule(options({ judge: twoKills(calls), maxRuns }));
      expect(calls.length).toBeLessThanOrEqual(maxRuns);
      expect(result.runs).toBe(calls.length);
      expect(result.exhausted).toBe(true);
      expect(result.events.some(killOf1) && result.events.some(killOf2)).toBe(true);
      expect(valid(result.events)).toBe(true);
    }
    const none = await shrinkSchedule(options({ maxRuns: 0 }));
    expect(none.events).toEqual(events);
  });

  it('is deterministic: the same judge gives the same runs and result', async () => {
    const first: Array<readonly ScenarioEvent[]> = [];
    const second: Array<readonly ScenarioEvent[]> = [];
    const a = await shrinkSchedule(options({ judge: twoKills(first) }));
    const b = await shrinkSchedule(options({ judge: twoKills(second) }));
    expect(b).toEqual(a);
    expect(second).toEqual(first);
  });

  it('tries the empty schedule: a failure no fault causes shrinks to no events', async () => {
    const result = await shrinkSchedule(options({ judge: () => Promise.resolve({ failed: true, kind: 'missing' }) }));
    expect(result.events).toEqual([]);
    // Halving: about log2 of the units.
    expect(result.runs).toBeLessThanOrEqual(6);
  });

  it('keeps events whole: only atMs changes, on a copy', async () => {
    const link = { direction: 'both' as const, shape: { delayMs: 300 } };
    const withLink = events.map((e) => (killOf1(e) ? { ...e, link } : e));
    const result = await shrinkSchedule(options({ events: withLink, validate: () => true }));
    expect(result.events.find(killOf1)).toEqual({ atMs: 0, action: 'kill', target: 'slave-1', link });
    expect(withLink.find(killOf1)!.atMs).toBeGreaterThan(0);
  });
});

describe('pairUnits', () => {
  it('pairs each fault with the event that ends it, and leaves the others alone', () => {
    const units = pairUnits(events);
    expect(units.flat()).toHaveLength(events.length);
    for (const unit of units) {
      if (unit.length === 1) continue;
      expect(unit).toHaveLength(2);
      expect(unit[0]!.target).toBe(unit[1]!.target);
      expect(unit[0]!.atMs).toBeLessThanOrEqual(unit[1]!.atMs);
    }
    const kill = units.find((unit) => killOf1(unit[0]!))!;
    expect(kill.map((e) => e.action)).toEqual(['kill', 'start']);
  });
});

describe('earlierTimes', () => {
  it('offers the previous event time, halfway to it, and the whole second, earliest first', () => {
    expect(earlierTimes(7300, 2000)).toEqual([2000, 4600, 7000]);
    expect(earlierTimes(7000, 2000)).toEqual([2000, 4500]);
    expect(earlierTimes(2000, 2000)).toEqual([]);
    expect(earlierTimes(150, 0)).toEqual([0]);
  });
});

describe('failureKindOf', () => {
  const report = (verdict: Verdict, kinds: FailureKind[]): CheckReport =>
    ({ verdict, failures: kinds.map((kind) => ({ node: 'slave-1', kind, detail: '' })) }) as unknown as CheckReport;

  it('is the sorted set of the failure kinds of a failed run, joined by +', () => {
    expect(failureKindOf(report('fail', ['missing', 'late_disconnect', 'missing']))).toBe('late_disconnect+missing');
    expect(failureKindOf(report('fail', ['spurious_disconnect']))).toBe('spurious_disconnect');
  });

  it('is the verdict of a run that did not fail', () => {
    expect(failureKindOf(report('pass', []))).toBe('pass');
    expect(failureKindOf(report('inconclusive', ['missing']))).toBe('inconclusive');
  });
});
