import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import {
  DEFAULT_SCENARIO_HEARTBEAT_INTERVAL_MS,
  loadScenario,
  parseScenario,
  ScenarioError,
} from '../../src/orchestrator/scenario';
import { ACTIONS, type Scenario } from '../../src/orchestrator/types';

const ROOT = join(__dirname, '..', '..');
const SCENARIOS = join(ROOT, 'scenarios');
const INVALID = join(ROOT, 'test', 'fixtures', 'scenarios', 'invalid');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => join(dir, name));
}

function errorOf(run: () => unknown): ScenarioError {
  try {
    run();
  } catch (err) {
    if (err instanceof ScenarioError) return err;
    throw err;
  }
  throw new Error('expected a ScenarioError');
}

/** `file:line:col: path: message` -> its parts; path is undefined for YAML syntax errors. */
function parseError(line: string): { line: number; column: number; path?: string; message: string } {
  const match = /^.*?:(\d+):(\d+): (?:([^\s:]+): )?(.*)$/.exec(line);
  if (!match) throw new Error(`not a located error: ${line}`);
  return { line: Number(match[1]), column: Number(match[2]), path: match[3], message: match[4] ?? '' };
}

describe('parseScenario', () => {
  const example = [
    'name: kill-and-cut',
    'slaves: 5',
    'heartbeat_interval: 250ms',
    'heartbeat_timeout: 1s',
    'duration: 15s',
    'events:',
    '  - { at: 3s, action: kill, target: slave-2 }',
    '  - { at: 4s, action: disconnect, target: [slave-3, slave-4] }',
    '  - { at: 8s, action: reconnect, target: [slave-3, slave-4] }',
    '  - { at: 5s, action: pause, target: slave-5 }',
    '  - { at: 9s, action: unpause, target: slave-5 }',
    '  - { at: 9s, action: master-restart }',
    '',
  ].join('\n');

  it('reads the example, ordering events by at and expanding list targets', () => {
    const scenario = parseScenario(example, 'x.yaml');
    expect(scenario).toEqual<Scenario>({
      name: 'kill-and-cut',
      file: 'x.yaml',
      slaves: 5,
      heartbeatIntervalMs: 250,
      heartbeatTimeoutMs: 1000,
      durationMs: 15_000,
      events: [
        { atMs: 3000, action: 'kill', target: 'slave-2', line: 7 },
        { atMs: 4000, action: 'disconnect', target: 'slave-3', line: 8 },
        { atMs: 4000, action: 'disconnect', target: 'slave-4', line: 8 },
        { atMs: 5000, action: 'pause', target: 'slave-5', line: 10 },
        { atMs: 8000, action: 'reconnect', target: 'slave-3', line: 9 },
        { atMs: 8000, action: 'reconnect', target: 'slave-4', line: 9 },
        { atMs: 9000, action: 'unpause', target: 'slave-5', line: 11 },
        { atMs: 9000, action: 'master-restart', target: 'master', line: 12 },
      ],
    });
  });

  it('applies defaults: name from the file, a 1 s interval, no timeout, no events', () => {
    const scenario = parseScenario('slaves: 1\nduration: 10s\n', 'dir/quiet-one.yaml');
    expect(scenario).toEqual<Scenario>({
      name: 'quiet-one',
      file: 'dir/quiet-one.yaml',
      slaves: 1,
      heartbeatIntervalMs: DEFAULT_SCENARIO_HEARTBEAT_INTERVAL_MS,
      durationMs: 10_000,
      events: [],
    });
    expect('heartbeatTimeoutMs' in scenario).toBe(false);
  });

  it('reads plain numbers as ms and accepts block-style events', () => {
    const text =
      'slaves: 2\nheartbeat_interval: 200\nduration: "12000"\nevents:\n  - at: 0\n    action: restart\n    target: slave-2\n';
    const scenario = parseScenario(text, 'n.yaml');
    expect(scenario.heartbeatIntervalMs).toBe(200);
    expect(scenario.durationMs).toBe(12_000);
    expect(scenario.events).toEqual([{ atMs: 0, action: 'restart', target: 'slave-2', line: 5 }]);
  });

  it('keeps file order for events at the same at, which decides the state machine', () => {
    const ok =
      'slaves: 1\nduration: 10s\nevents:\n  - { at: 2s, action: kill, target: slave-1 }\n  - { at: 2s, action: start, target: slave-1 }\n';
    expect(parseScenario(ok, 'ok.yaml').events.map((event) => event.action)).toEqual(['kill', 'start']);
    const swapped =
      'slaves: 1\nduration: 10s\nevents:\n  - { at: 2s, action: start, target: slave-1 }\n  - { at: 2s, action: kill, target: slave-1 }\n';
    const error = errorOf(() => parseScenario(swapped, 'swapped.yaml'));
    expect(error.errors).toEqual([
      'swapped.yaml:4:23: events[0].action: cannot start slave-1 at 2s: it is running; start follows a kill or a stop',
    ]);
  });

  it('lets a cut and a process fault overlap, and a killed node start again', () => {
    const text = [
      'slaves: 2',
      'duration: 20s',
      'events:',
      '  - { at: 1s, action: disconnect, target: slave-1 }',
      '  - { at: 2s, action: pause, target: slave-1 }',
      '  - { at: 3s, action: kill, target: slave-1 }',
      '  - { at: 4s, action: reconnect, target: slave-1 }',
      '  - { at: 5s, action: start, target: slave-1 }',
      '  - { at: 6s, action: restart, target: slave-1 }',
      '  - { at: 7s, action: stop, target: slave-1 }',
      '  - { at: 8s, action: start, target: slave-1 }',
      '  - { at: 9s, action: disconnect, target: slave-1 }',
      '',
    ].join('\n');
    expect(parseScenario(text, 'overlap.yaml').events).toHaveLength(9);
  });

  it('throws a ScenarioError with a stable code and every error of the file', () => {
    const text = 'slaves: 0\nduration: 1x\nevents:\n  - { at: 1s, action: nope, target: slave-1 }\n';
    const error = errorOf(() => parseScenario(text, 'many.yaml'));
    expect(error.code).toBe('PICLUSTER_ERR_INVALID_SCENARIO');
    expect(error.name).toBe('ScenarioError');
    expect(error.file).toBe('many.yaml');
    expect(error.errors.map((line) => parseError(line).path)).toEqual(['slaves', 'duration', 'events[0].action']);
    expect(error.message).toBe(error.errors.join('\n'));
  });

  // Inline, not a fixture: prettier --check refuses to read a file that is not YAML.
  it('reports YAML syntax errors with their position and no key path', () => {
    const text = 'slaves: 2\nduration: 10s\nevents:\n  - { at: 2s, action: kill, target: [slave-1 }\n';
    const error = errorOf(() => parseScenario(text, 'broken.yaml'));
    expect(error.code).toBe('PICLUSTER_ERR_INVALID_SCENARIO');
    expect(error.errors.length).toBeGreaterThan(0);
    for (const line of error.errors) {
      expect(line).toMatch(/^broken\.yaml:4:\d+: invalid YAML: /);
      expect(parseError(line).path).toBeUndefined();
    }
  });

  it('reports a file that is not a mapping', () => {
    const error = errorOf(() => parseScenario('- 1\n- 2\n', 'list.yaml'));
    expect(error.errors).toEqual(['list.yaml:1:1: (top level): must be a mapping; got a list']);
    expect(errorOf(() => parseScenario('', 'empty.yaml')).errors).toEqual([
      'empty.yaml:1:1: (top level): must be a mapping; got null',
    ]);
  });
});

describe('loadScenario', () => {
  it('names a missing file', () => {
    const error = errorOf(() => loadScenario(join(INVALID, 'no-such-file.yaml')));
    expect(error.code).toBe('PICLUSTER_ERR_SCENARIO_UNREADABLE');
    expect(error.errors).toEqual([`${join(INVALID, 'no-such-file.yaml')}: cannot read scenario: no such file`]);
  });

  // Each fixture marks the lines where errors are expected with `# error: <key path>`.
  describe.each(yamlFiles(INVALID).map((file) => [file.slice(INVALID.length + 1), file]))(
    'invalid %s',
    (_name, file) => {
      it('is refused with one error per marked line, naming that line and key path', () => {
        const expected = readFileSync(file, 'utf8')
          .split('\n')
          .flatMap((text, index) => {
            const marker = /# error: (\S+)/.exec(text);
            return marker ? [{ line: index + 1, path: marker[1] }] : [];
          });
        const error = errorOf(() => loadScenario(file));
        expect(error.code).toBe('PICLUSTER_ERR_INVALID_SCENARIO');
        for (const text of error.errors) expect(text.startsWith(`${file}:`)).toBe(true);
        const got = error.errors.map(parseError);
        expect(expected.length).toBeGreaterThan(0);
        expect(got.map(({ line, path }) => ({ line, path }))).toEqual(expected);
      });
    },
  );

  it('explains the problem, not only where it is', () => {
    const messages = (name: string): string[] =>
      errorOf(() => loadScenario(join(INVALID, name))).errors.map((line) => parseError(line).message);
    expect(messages('unknown-action.yaml')).toEqual([
      'must be one of disconnect, reconnect, kill, stop, start, restart, pause, unpause, master-restart, delay, loss, bandwidth, slice, partition, degrade, reset, heal; got "explode"',
    ]);
    expect(messages('unknown-target.yaml')).toEqual([
      'no such slave: this scenario has slave-1 … slave-3; got "slave-4"',
      'no such slave: this scenario has slave-1 … slave-3; got "slave-4"',
    ]);
    expect(messages('at-beyond-duration.yaml')).toEqual(['must be at most duration (10s); got "12s"']);
    expect(messages('reconnect-never-cut.yaml')).toEqual([
      'cannot reconnect slave-1 at 3s: it is not cut (a reconnect must follow a disconnect)',
    ]);
    expect(messages('unpause-without-pause.yaml')).toEqual(['cannot unpause slave-1 at 3s: it is running, not paused']);
    expect(messages('unknown-key.yaml')[1]).toBe('is not a parameter of kill (its parameters: none)');
    expect(messages('bad-duration.yaml')[0]).toMatch(/^must be a duration: .*; got "2 seconds"$/);
    expect(messages('slaves-out-of-range.yaml')).toEqual(['must be from 1 to 10000; got 10001']);
    expect(messages('master-restart-slave-target.yaml')[0]).toMatch(/^master-restart acts on the master/);
    expect(messages('timeout-not-longer.yaml')).toEqual(['must be longer than heartbeat_interval (500ms); got 500ms']);
  });
});

describe('shipped scenarios', () => {
  // scenarios/network/: the degraded-network ones, which the swarm backend refuses.
  const files = [...yamlFiles(SCENARIOS), ...yamlFiles(join(SCENARIOS, 'network'))];
  const scenarios = files.map((file) => loadScenario(file));

  it('are at least 8, and each validates and points editors at the schema', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
    // scenarios/scale/: minutes each, so CI's runs of every shipped scenario leave them out; they validate too.
    const scale = yamlFiles(join(SCENARIOS, 'scale'));
    expect(scale.map((file) => loadScenario(file).slaves)).toEqual(expect.arrayContaining([200, 10_000]));
    for (const file of [...files, ...scale]) {
      const schema = relative(dirname(file), join(SCENARIOS, 'scenario.schema.json'));
      expect(readFileSync(file, 'utf8').split('\n')[0]).toBe(
        `# yaml-language-server: $schema=${schema.startsWith('.') ? schema : `./${schema}`}`,
      );
    }
  });

  it('use every action, and one runs 50 slaves', () => {
    const used = new Set(scenarios.flatMap((scenario) => scenario.events.map((event) => event.action)));
    expect([...ACTIONS].filter((action) => !used.has(action))).toEqual([]);
    const fifty = scenarios.find((scenario) => scenario.name === 'fifty-slaves');
    expect(fifty?.slaves).toBe(50);
    expect(fifty?.durationMs).toBeLessThanOrEqual(20_000);
    expect(new Set(fifty?.events.map((event) => event.action))).toEqual(
      new Set(['kill', 'stop', 'start', 'disconnect', 'reconnect', 'pause', 'unpause']),
    );
  });

  it.each(files.map((file, index) => [file.slice(SCENARIOS.length + 1), index]))(
    '%s stays short and leaves time to see the last fault',
    (_name, index) => {
      const scenario = scenarios[index as number] as Scenario;
      expect(scenario.name).toBe(basename(_name as string, '.yaml'));
      expect(scenario.durationMs).toBeGreaterThanOrEqual(10_000);
      // A generated soak (generate:) needs a minute to draw every action.
      expect(scenario.durationMs).toBeLessThanOrEqual(scenario.seed === undefined ? 20_000 : 60_000);
      expect(scenario.heartbeatIntervalMs).toBeGreaterThanOrEqual(200);
      // A degraded link is judged strictly (no disconnect allowed) only when its delay is well under the timeout.
      expect(scenario.heartbeatIntervalMs).toBeLessThanOrEqual((_name as string).startsWith('network/') ? 1000 : 500);
      if (scenario.heartbeatTimeoutMs !== undefined) {
        expect(scenario.heartbeatTimeoutMs).toBeGreaterThanOrEqual(3 * scenario.heartbeatIntervalMs);
      }
      const lastMs = Math.max(0, ...scenario.events.map((event) => event.atMs));
      expect(scenario.durationMs - lastMs).toBeGreaterThanOrEqual(3000);
    },
  );
});
