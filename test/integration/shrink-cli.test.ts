import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, runCli } from '../helpers/cli';
import { RUN_FIXTURES } from '../helpers/run-fixtures';

/**
 * `picluster shrink` and `picluster run --shrink` on real failing runs of the
 * local backend, and the run directories it refuses.
 */

// A few-second scenario run up to four times, each start-up and teardown included.
jest.setTimeout(180_000);

/**
 * Fails on every run, the same way: a heartbeat timeout 1 ms longer than the
 * interval makes the master drop live slaves (`spurious_disconnect`) all
 * through the run, whatever the faults do.
 */
const FAILING = [
  'name: tight-timeout',
  'slaves: 2',
  'heartbeat_interval: 500ms',
  'heartbeat_timeout: 501ms',
  'duration: 3s',
  'events:',
  '  - { at: 1s, action: kill, target: slave-1 }',
  '  - { at: 2s, action: start, target: slave-1 }',
  '',
].join('\n');

let dir: string;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
  dir = mkdtempSync(join(tmpdir(), 'picluster-shrink-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('picluster run --shrink, then picluster shrink', () => {
  const runDir = (): string => join(dir, 'run');

  it("run --shrink: a failed run is shrunk right after, and the exit code stays the run's", async () => {
    const scenario = join(dir, 'failing.yaml');
    writeFileSync(scenario, FAILING);
    const run = await runCli(['run', scenario, '--backend', 'local', '--out', runDir(), '--shrink', '--max-runs', '1']);
    expect(run.stdout).toContain('VERDICT: FAIL');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /^shrunk to [0-2] of 2 events, failing as [a-z_+]+, after 1 re-run(, stopped at --max-runs)?: wrote /m,
    );
    expect(run.stderr).toMatch(/^picluster run --shrink: re-run 1\/1 \(remove\): /m);
    expect(existsSync(join(runDir(), 'shrunk.yaml'))).toBe(true);
    expect((await runCli(['validate', join(runDir(), 'shrunk.yaml')])).code).toBe(0);
  });

  it('shrink <run-dir>: writes a scenario that validate accepts, with its origin in comments', async () => {
    const out = join(dir, 'shrunk.yaml');
    const shrink = await runCli(['shrink', runDir(), '--max-runs', '2', '--out', out]);
    expect(shrink.stderr).toMatch(/^picluster shrink: re-run 1\/2 \(remove\): /m);
    expect(shrink.stdout).toMatch(
      /^shrunk to [0-2] of 2 events, failing as [a-z_+]+, after [12] re-runs?(, stopped at --max-runs)?: wrote /m,
    );
    expect(shrink.stdout).toContain(`wrote ${out}`);
    expect(shrink.code).toBe(0);

    const text = readFileSync(out, 'utf8');
    const lines = text.split('\n');
    expect(lines[0]).toBe(`# Shrunk by picluster shrink from the run ${runDir()} of tight-timeout.`);
    expect(lines[1]).toMatch(
      /^# Fails as: [a-z_+]+\. [0-2] of 2 events, after [12] re-runs?( \(the --max-runs bound\))?\.$/,
    );
    expect(text).toContain('heartbeat_timeout: 501ms');
    const validate = await runCli(['validate', out]);
    expect(validate.stdout).toMatch(/^ok {2}.*\(tight-timeout: 2 slaves, [0-2] events?, 3s\)/);
    expect(validate.code).toBe(0);

    // Only the re-runs that failed the same way are kept.
    for (const name of readdirSync(join(runDir(), 'shrink'))) {
      const report = JSON.parse(readFileSync(join(runDir(), 'shrink', name, 'report.json'), 'utf8')) as {
        verdict: string;
      };
      expect(report.verdict).toBe('fail');
    }
  });
});

describe('picluster shrink refuses', () => {
  let scratch: string;

  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'picluster-shrink-fixture-'));
  });

  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  const copy = (fixture: string): string => {
    const target = join(scratch, fixture);
    cpSync(join(RUN_FIXTURES, fixture), target, { recursive: true });
    return target;
  };

  it('a run that passed (exit 1)', async () => {
    const result = await runCli(['shrink', copy('clean'), '--backend', 'local']);
    expect(result.stderr).toMatch(/the run passed its check: nothing to shrink/);
    expect(result.code).toBe(1);
  });

  it('a run that was interrupted (exit 2)', async () => {
    const run = copy('clean');
    const info = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')) as Record<string, unknown>;
    info.interrupted = { signal: 'SIGINT', at: info.endedAt };
    writeFileSync(join(run, 'run.json'), JSON.stringify(info));
    const result = await runCli(['shrink', run, '--backend', 'local']);
    expect(result.stderr).toMatch(/the run cannot be judged \(it was interrupted\): nothing to shrink/);
    expect(result.code).toBe(2);
  });

  it('no run directory, or a usage error (exit 2)', async () => {
    const missing = await runCli(['shrink', join(scratch, 'nothing')]);
    expect(missing.stderr).toMatch(/^picluster shrink: .*run\.json/m);
    expect(missing.code).toBe(2);
    expect((await runCli(['shrink'])).code).toBe(2);
    expect((await runCli(['shrink', scratch, '--max-runs', '-1'])).code).toBe(2);
  });

  it('nothing to re-run with --max-runs 0: the failing schedule is written as it is', async () => {
    const run = copy('missing-message');
    const result = await runCli(['shrink', run, '--max-runs', '0', '--backend', 'local']);
    expect(result.stdout).toMatch(
      /^shrunk to 6 of 6 events, failing as missing, after 0 re-runs, stopped at --max-runs/m,
    );
    expect(result.code).toBe(0);
    const text = readFileSync(join(run, 'shrunk.yaml'), 'utf8');
    expect(text).toContain('# No smaller schedule failed the same way: these are the original events.');
    expect((await runCli(['validate', join(run, 'shrunk.yaml')])).code).toBe(0);
  });

  it('--help names the exit codes', async () => {
    const result = await runCli(['shrink', '--help']);
    expect(result.stdout).toContain('Usage: picluster shrink <run-dir>');
    expect(result.stdout).toContain('Exit codes: 0 a scenario was written, 1 the run passed');
    expect(result.code).toBe(0);
  });
});
