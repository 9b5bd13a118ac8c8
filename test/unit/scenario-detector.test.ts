import { degradedDisconnect } from '../../src/orchestrator/actions';
import { nodeSettingsEnv, nodeSettingsOf, masterFlags } from '../../src/orchestrator/backend';
import { cutBound, earliestTimeoutMs, recoveryBound } from '../../src/orchestrator/bounds';
import { parseScenario, ScenarioError } from '../../src/orchestrator/scenario';
import { isDetectorSpec } from '../../src/orchestrator/scenario-detector';
import { scenarioToYaml } from '../../src/orchestrator/scenario-yaml';
import { DEFAULT_PHI_PARAMS, phiSuspicionY } from '../../src/protocol';

const HEAD = 'slaves: 2\nheartbeat_interval: 500ms\nduration: 10s\n';

function problemsOf(text: string): string[] {
  try {
    parseScenario(text, 'd.yaml');
  } catch (err) {
    if (err instanceof ScenarioError) return [...err.errors];
    throw err;
  }
  throw new Error('expected a ScenarioError');
}

describe("a scenario's detector:", () => {
  it('is unset without the key, and the master then runs fixed', () => {
    const scenario = parseScenario(HEAD, 'd.yaml');
    expect(scenario.detector).toBeUndefined();
    expect(masterFlags(nodeSettingsOf(scenario))).toEqual(
      expect.arrayContaining(['--heartbeat-timeout-ms', '1500', '--detector', 'fixed']),
    );
  });

  it("reads a kind alone, with phi's defaults", () => {
    expect(parseScenario(`${HEAD}detector: fixed\n`, 'd.yaml').detector).toEqual({ kind: 'fixed' });
    expect(parseScenario(`${HEAD}detector: phi\n`, 'd.yaml').detector).toEqual({ kind: 'phi', ...DEFAULT_PHI_PARAMS });
  });

  it("reads phi's parameters, durations in any form", () => {
    const scenario = parseScenario(
      `${HEAD}detector: { kind: phi, threshold: 10, min_std_dev: 0.2s, acceptable_pause: 300 }\n`,
      'd.yaml',
    );
    expect(scenario.detector).toEqual({ kind: 'phi', threshold: 10, minStdDevMs: 200, acceptablePauseMs: 300 });
    // Written back and read again, it is the same.
    expect(parseScenario(scenarioToYaml(scenario), 'again.yaml').detector).toEqual(scenario.detector);
  });

  it.each([
    ['detector: gossip', 'detector: must be fixed or phi; got "gossip"'],
    ['detector: { kind: phi, threshold: 0 }', 'detector.threshold:'],
    ['detector: { kind: phi, threshold: 8.5 }', 'detector.threshold:'],
    ['detector: { kind: phi, min_std_dev: 0ms }', 'detector.min_std_dev: must be from 1ms to 24h; got "0ms"'],
    ['detector: { kind: phi, acceptable_pause: soon }', 'detector.acceptable_pause:'],
    ['detector: { kind: fixed, threshold: 8 }', 'detector.threshold: is a parameter of kind phi only'],
    ['detector: { kind: phi, window: 5 }', 'detector.window: unknown key'],
    ['detector: { threshold: 8 }', 'detector'],
    ['detector: 8', 'detector'],
  ])('refuses %s, naming the field', (line, expected) => {
    const problems = problemsOf(`${HEAD}${line}\n`);
    expect(problems.some((problem) => problem.includes(expected))).toBe(true);
  });

  it('reaches the master as flags (local) and as variables (containers)', () => {
    const scenario = parseScenario(`${HEAD}detector: { kind: phi, threshold: 9, min_std_dev: 50ms }\n`, 'd.yaml');
    const settings = nodeSettingsOf(scenario);
    expect(masterFlags(settings).join(' ')).toContain(
      '--detector phi --phi-threshold 9 --phi-min-std-dev-ms 50 --phi-acceptable-pause-ms 500',
    );
    expect(nodeSettingsEnv(settings)).toMatchObject({
      DETECTOR: 'phi',
      PHI_THRESHOLD: '9',
      PHI_MIN_STD_DEV_MS: '50',
      PHI_ACCEPTABLE_PAUSE_MS: '500',
    });
    expect(nodeSettingsEnv(nodeSettingsOf(parseScenario(HEAD, 'd.yaml')))).toMatchObject({
      DETECTOR: 'fixed',
      PHI_THRESHOLD: '',
    });
  });

  it('is recognised in run.json as written', () => {
    expect(isDetectorSpec({ kind: 'fixed' })).toBe(true);
    expect(isDetectorSpec({ kind: 'phi', ...DEFAULT_PHI_PARAMS })).toBe(true);
    expect(isDetectorSpec({ kind: 'phi' })).toBe(false);
    expect(isDetectorSpec('phi')).toBe(false);
  });
});

describe("the checker's bounds per detector", () => {
  const fixed = { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 1500 };
  const phi = { ...fixed, detector: { kind: 'phi' as const, threshold: 8, minStdDevMs: 100, acceptablePauseMs: 100 } };

  it('keep the timeout as the detection term: phi is capped by it', () => {
    expect(cutBound(phi).ms).toBe(cutBound(fixed).ms);
    expect(cutBound(phi).derivation).toContain('timeout (phi capped by it) 1500');
    expect(recoveryBound(phi).ms).toBe(recoveryBound(fixed).ms);
  });

  it('let phi suspect from a quarter interval + pause + y × min deviation on, never later than the timeout', () => {
    expect(earliestTimeoutMs(fixed)).toBe(1500);
    expect(earliestTimeoutMs(phi)).toBe(Math.floor(125 + 100 + phiSuspicionY(8) * 100));
    expect(earliestTimeoutMs({ ...phi, detector: { ...phi.detector, acceptablePauseMs: 5000 } })).toBe(1500);
  });

  it('allow a timeout under phi for a delay that the fixed timeout would never see', () => {
    const delay = { direction: 'both', shape: { delayMs: 200 } } as Parameters<typeof degradedDisconnect>[0];
    expect(degradedDisconnect(delay, { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 5000 })).toBeUndefined();
    expect(
      degradedDisconnect(delay, { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 5000, detector: phi.detector }),
    ).toMatchObject({ reasons: ['timeout'], when: 'may' });
  });
});
