import fc from 'fast-check';
import { ACTION_SPECS } from '../../src/orchestrator/actions';
import { recoveryBound } from '../../src/orchestrator/bounds';
import {
  GENERATABLE_ACTIONS,
  MASTER_RESTART_QUIET_EXTRA_MS,
  generateEvents,
  mulberry32,
  type GenerateSpec,
} from '../../src/orchestrator/generate';
import { parseScenario, ScenarioError } from '../../src/orchestrator/scenario';
import { scenarioToYaml } from '../../src/orchestrator/scenario-yaml';
import type { Action, Scenario, ScenarioEvent } from '../../src/orchestrator/types';

/**
 * Generated fault schedules: determinism, validity by construction (every
 * schedule passes the scenario validator), the limits of `generate:`, and
 * its errors.
 */

interface Shape {
  slaves: number;
  intervalMs: number;
  timeoutMs: number;
  durationS: number;
  faults: readonly Action[];
  rate: number;
  minGapMs: number;
  maxConcurrent: number;
  targets?: readonly number[];
  weights?: Readonly<Record<string, number>>;
}

function yamlOf(shape: Shape, seed: number): string {
  const targets =
    shape.targets === undefined ? '' : `\n  targets: [${shape.targets.map((n) => `slave-${n}`).join(', ')}]`;
  return [
    `slaves: ${shape.slaves}`,
    `heartbeat_interval: ${shape.intervalMs}ms`,
    `heartbeat_timeout: ${shape.timeoutMs}ms`,
    `duration: ${shape.durationS}s`,
    'generate:',
    `  seed: ${seed}`,
    `  faults: [${shape.faults.join(', ')}]`,
    `  rate: ${shape.rate}`,
    `  min_gap: ${shape.minGapMs}ms`,
    `  max_concurrent: ${shape.maxConcurrent}${targets}`,
    ...(shape.weights === undefined
      ? []
      : [
          `  weights: { ${Object.entries(shape.weights)
            .map(([action, weight]) => `${action}: ${weight}`)
            .join(', ')} }`,
        ]),
    '',
  ].join('\n');
}

const SOAKISH: Shape = {
  slaves: 5,
  intervalMs: 500,
  timeoutMs: 2000,
  durationS: 120,
  faults: GENERATABLE_ACTIONS,
  rate: 20,
  minGapMs: 1000,
  maxConcurrent: 3,
};

const show = (events: readonly ScenarioEvent[]): string[] =>
  events.map(({ atMs, action, target }) => `${atMs} ${action} ${target}`);

/** Every limit `generate:` promises, checked on the drawn events of `scenario`. */
function expectWithinLimits(scenario: Scenario, shape: Shape): void {
  const settings = { heartbeatIntervalMs: shape.intervalMs, heartbeatTimeoutMs: shape.timeoutMs };
  const tailMs = recoveryBound(settings).ms;
  const quietMs = tailMs + MASTER_RESTART_QUIET_EXTRA_MS;
  const open: Array<{ from: number; to: number }> = [];
  const lastOn = new Map<string, number>();
  const slaveEvents = scenario.events.filter((event) => event.target !== 'master');
  for (const [i, event] of scenario.events.entries()) {
    const spec = ACTION_SPECS[event.action];
    expect(event.atMs).toBeLessThanOrEqual(scenario.durationMs - tailMs);
    if (spec.target === 'master') {
      // No slave event within the quiet window on either side.
      expect(slaveEvents.filter((other) => Math.abs(other.atMs - event.atMs) < quietMs)).toEqual([]);
      open.push({ from: event.atMs, to: event.atMs + quietMs });
      continue;
    }
    const last = lastOn.get(event.target);
    if (last !== undefined) expect(event.atMs - last).toBeGreaterThanOrEqual(shape.minGapMs);
    lastOn.set(event.target, event.atMs);
    if (shape.targets !== undefined) expect(shape.targets.map((n) => `slave-${n}`)).toContain(event.target);
    if (GENERATABLE_ACTIONS.includes(event.action)) {
      expect(shape.faults).toContain(event.action);
      const ending = spec.endedBy;
      const end =
        ending === undefined
          ? event.atMs + recoveryBound(settings).ms
          : scenario.events.slice(i + 1).find((other) => other.target === event.target)!;
      if (ending !== undefined) expect((end as ScenarioEvent).action).toBe(ending);
      open.push({ from: event.atMs, to: typeof end === 'number' ? end : end.atMs });
    }
  }
  for (const { from } of open) {
    const concurrent = open.filter((fault) => fault.from <= from && from < fault.to).length;
    expect(concurrent).toBeLessThanOrEqual(shape.maxConcurrent);
  }
}

describe('mulberry32', () => {
  it('gives the same unsigned 32-bit integers for a seed on any machine', () => {
    const next = mulberry32(42);
    expect([next(), next(), next(), next()]).toEqual([2581720956, 1925393290, 3661312704, 2876485805]);
  });
});

describe('generateEvents', () => {
  const base = { slaves: 4, heartbeatIntervalMs: 500, heartbeatTimeoutMs: 2000, durationMs: 60_000, events: [] };
  const spec: GenerateSpec = { faults: GENERATABLE_ACTIONS, ratePerMinute: 12, minGapMs: 2000, maxConcurrent: 2 };
  /** The faults there were before the network actions: their schedules must not have changed. */
  const firstSix: Action[] = ['disconnect', 'kill', 'stop', 'restart', 'pause', 'master-restart'];

  it('draws the same events for the same seed, different ones for another', () => {
    const once = generateEvents(spec, base, 42);
    expect(generateEvents(spec, base, 42)).toEqual(once);
    expect(once.length).toBeGreaterThan(0);
    expect(show(generateEvents(spec, base, 43))).not.toEqual(show(once));
  });

  it('pins the events of one seed, so a change of the generator is a visible one', () => {
    expect(show(generateEvents(spec, base, 42))).toEqual([
      '7216 stop slave-1',
      '9497 start slave-1',
      '14561 partition slave-1',
      '17730 kill slave-3',
      '19208 heal slave-1',
      '21525 start slave-3',
      '23031 stop slave-1',
      '25442 start slave-1',
      '27906 loss slave-3',
      '31704 heal slave-3',
      '32809 delay slave-4',
      '37026 heal slave-4',
      '38553 restart slave-3',
      '43504 pause slave-4',
      '46981 partition slave-1',
      '49843 unpause slave-4',
      '50246 stop slave-2',
      '50407 heal slave-1',
      '52415 start slave-2',
    ]);
    expect(generateEvents(spec, base, 42).find((event) => event.action === 'delay')?.link).toEqual({
      direction: expect.any(String),
      shape: { delayMs: expect.any(Number), jitterMs: expect.any(Number) },
    });
    expect(show(generateEvents({ ...spec, faults: firstSix }, base, 42))).toEqual([
      '7216 pause slave-1',
      '11997 unpause slave-1',
      '14561 restart slave-1',
      '18374 disconnect slave-2',
      '22186 kill slave-3',
      '24701 reconnect slave-2',
      '25582 start slave-3',
      '26423 disconnect slave-4',
      '32028 reconnect slave-4',
      '32572 pause slave-2',
      '37870 unpause slave-2',
      '47870 master-restart master',
    ]);
  });

  it('draws each fault as often as its weight says', () => {
    const long = { ...base, slaves: 50, durationMs: 3_600_000 };
    const weighted: GenerateSpec = {
      faults: ['kill', 'pause', 'master-restart'],
      weights: { kill: 9, pause: 3 },
      ratePerMinute: 60,
      minGapMs: 1000,
      maxConcurrent: 50,
    };
    const count = (action: Action): number =>
      generateEvents(weighted, long, 11).filter((event) => event.action === action).length;
    expect(count('kill')).toBeGreaterThan(2 * count('pause'));
    expect(count('pause')).toBeGreaterThan(count('master-restart'));
    expect(count('master-restart')).toBeGreaterThan(0);
  });

  it('leaves alone the slaves the scenario names in events:', () => {
    const own: ScenarioEvent[] = [{ atMs: 1000, action: 'kill', target: 'slave-2' }];
    const events = generateEvents({ ...spec, faults: ['kill', 'pause'] }, { ...base, events: own }, 5);
    expect(events.some((event) => event.target === 'slave-2')).toBe(false);
  });
});

describe('generate: in a scenario', () => {
  it('1,000 random seeds and shapes: every schedule passes the validator, within its limits', () => {
    const shapes = fc.record({
      slaves: fc.integer({ min: 1, max: 12 }),
      intervalMs: fc.integer({ min: 100, max: 1000 }),
      timeoutFactor: fc.integer({ min: 2, max: 5 }),
      durationS: fc.integer({ min: 5, max: 180 }),
      faults: fc.subarray([...GENERATABLE_ACTIONS], { minLength: 1 }),
      rate: fc.integer({ min: 1, max: 120 }),
      minGapMs: fc.integer({ min: 0, max: 5000 }),
      maxConcurrent: fc.integer({ min: 1, max: 6 }),
      someTargets: fc.boolean(),
      weights: fc.option(
        fc.array(fc.integer({ min: 1, max: 20 }), {
          minLength: GENERATABLE_ACTIONS.length,
          maxLength: GENERATABLE_ACTIONS.length,
        }),
        { nil: undefined },
      ),
    });
    fc.assert(
      fc.property(shapes, fc.integer({ min: 0, max: 0xffff_ffff }), (drawn, seed) => {
        const { weights, ...rest } = drawn;
        const shape: Shape = { ...rest, timeoutMs: drawn.intervalMs * drawn.timeoutFactor };
        if (weights !== undefined) shape.weights = Object.fromEntries(drawn.faults.map((a, i) => [a, weights[i]!]));
        if (drawn.someTargets) shape.targets = Array.from({ length: Math.ceil(drawn.slaves / 2) }, (_, i) => i + 1);
        const scenario = parseScenario(yamlOf(shape, seed), 'random.yaml');
        expect(scenario.seed).toBe(seed);
        expectWithinLimits(scenario, shape);
        // What picluster generate prints is accepted as it is, and means the same.
        const again = parseScenario(scenarioToYaml(scenario), 'expanded.yaml');
        expect(show(again.events)).toEqual(show(scenario.events));
        expect(again.seed).toBeUndefined();
      }),
      { numRuns: 1000, seed: 20261201 },
    );
  }, 120_000);

  it('is byte-identical for the same seed; --seed replaces generate.seed', () => {
    const text = yamlOf(SOAKISH, 7);
    const yaml = scenarioToYaml(parseScenario(text, 'a.yaml'));
    expect(scenarioToYaml(parseScenario(text, 'a.yaml'))).toBe(yaml);
    const overridden = parseScenario(text, 'a.yaml', { seed: 8 });
    expect(overridden.seed).toBe(8);
    expect(scenarioToYaml(overridden)).not.toBe(yaml);
    expect(scenarioToYaml(overridden)).toBe(scenarioToYaml(parseScenario(yamlOf(SOAKISH, 8), 'a.yaml')));
  });

  it('merges its events with the scenario own, ordered by at', () => {
    const text = yamlOf({ ...SOAKISH, faults: ['kill', 'pause'] }, 3).replace(
      'generate:',
      'events:\n  - { at: 30s, action: disconnect, target: slave-1 }\n  - { at: 40s, action: reconnect, target: slave-1 }\ngenerate:',
    );
    const scenario = parseScenario(text, 'merged.yaml');
    const own = scenario.events.filter((event) => event.target === 'slave-1');
    expect(show(own)).toEqual(['30000 disconnect slave-1', '40000 reconnect slave-1']);
    expect(scenario.events.length).toBeGreaterThan(2);
    const times = scenario.events.map((event) => event.atMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('leaves a scenario without generate: as it was (no seed)', () => {
    const scenario = parseScenario('slaves: 1\nduration: 5s\n', 'plain.yaml');
    expect(scenario.seed).toBeUndefined();
  });

  function problemsOf(text: string, options = {}): string[] {
    try {
      parseScenario(text, 'bad.yaml', options);
    } catch (err) {
      if (err instanceof ScenarioError) {
        expect(err.code).toBe('PICLUSTER_ERR_INVALID_SCENARIO');
        return [...err.errors];
      }
      throw err;
    }
    throw new Error('expected a ScenarioError');
  }

  it('names file, line, key and the accepted values of what is wrong', () => {
    const problems = problemsOf(
      [
        'slaves: 2',
        'duration: 30s',
        'generate:',
        '  faults: [kill, unpause]',
        '  rate: 0',
        '  min_gap: soon',
        '  max_concurrent: 0',
        '  targets: [slave-5]',
        '  speed: 3',
        '',
      ].join('\n'),
    );
    expect(problems).toEqual([
      'bad.yaml:4:3: generate.seed: is required (or give --seed): an integer from 0 to 4294967295',
      'bad.yaml:4:18: generate.faults[1]: must be one of disconnect, kill, stop, restart, pause, master-restart, delay, loss, bandwidth, slice, partition, degrade, reset; got "unpause"',
      'bad.yaml:5:9: generate.rate: must be from 1 to 600; got 0',
      expect.stringMatching(/^bad\.yaml:6:12: generate\.min_gap: must be a duration: .*; got "soon"$/),
      'bad.yaml:7:19: generate.max_concurrent: must be from 1 to 200; got 0',
      'bad.yaml:8:13: generate.targets[0]: no such slave: this scenario has slave-1 … slave-2; got "slave-5"',
      'bad.yaml:9:3: generate.speed: unknown key; expected one of seed, faults, weights, rate, min_gap, max_concurrent, targets',
    ]);
  });

  it('names a weight of an unknown or unlisted fault', () => {
    const text = 'slaves: 2\nduration: 30s\ngenerate:\n  seed: 1\n  faults: [kill]\n  rate: 6\n';
    expect(problemsOf(`${text}  weights: { kill: 0, jump: 1 }\n`)).toEqual([
      'bad.yaml:7:20: generate.weights.kill: must be from 1 to 1000; got 0',
      'bad.yaml:7:23: generate.weights.jump: unknown key; expected one of disconnect, kill, stop, restart, pause, master-restart, delay, loss, bandwidth, slice, partition, degrade, reset',
    ]);
    expect(problemsOf(`${text}  weights: { kill: 3, pause: 2 }\n`)).toEqual([
      'bad.yaml:7:23: generate.weights.pause: is not among generate.faults (kill): give it there or drop its weight',
    ]);
  });

  it('accepts a missing seed when --seed gives one', () => {
    const text = 'slaves: 2\nduration: 30s\ngenerate: { faults: [kill], rate: 6 }\n';
    expect(problemsOf(text)).toHaveLength(1);
    expect(parseScenario(text, 'ok.yaml', { seed: 9 }).seed).toBe(9);
  });

  it('refuses a schedule with no slave left to target, or more events than a scenario may hold', () => {
    const noTarget = 'slaves: 1\nduration: 30s\nevents:\n  - { at: 1s, action: kill, target: slave-1 }\n';
    expect(problemsOf(`${noTarget}generate: { seed: 1, faults: [pause], rate: 6 }\n`)).toEqual([
      'bad.yaml:5:11: generate: has no slave to target: events: act on every slave; give generate.targets or more slaves',
    ]);
    expect(problemsOf('slaves: 3\nduration: 1h\ngenerate: { seed: 1, faults: [kill], rate: 600 }\n')).toEqual([
      'bad.yaml:3:44: generate.rate: could make up to 144000 events over 1h, more than the limit of 10000; got 600',
    ]);
  });
});
