import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, expectUsageError, runCli, SPAWN_TEST_TIMEOUT_MS } from '../helpers/cli';
import { RUN_FIXTURES, useScratchRun } from '../helpers/run-fixtures';

const FIXTURES = RUN_FIXTURES;

// Every test here runs picluster as a child process.
jest.setTimeout(SPAWN_TEST_TIMEOUT_MS);

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
});

describe('picluster check', () => {
  it('exits 0 on the clean run, printing a row per slave and the verdict', async () => {
    const { code, stdout, stderr } = await runCli(['check', join(FIXTURES, 'clean'), '--no-write']);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^slave-1\s+pc-7f3a-slave-1\s/m);
    expect(stdout).toMatch(/^slave-3\s+pc-7f3a-slave-3\s/m);
    expect(stdout).toContain('VERDICT: PASS');
    expect(code).toBe(0);
  });

  it.each([
    ['missing-message', /^\s*slave-1\s+missing\s+seq 5\s/m],
    ['duplicated-message', /^\s*slave-3\s+duplicated\s+seq 4\s/m],
    ['missing-disconnect', /^\s*slave-3\s+missing_disconnect\s.*disconnect of slave-3 at 2000 ms/m],
    ['spurious-disconnect', /^\s*slave-1\s+spurious_disconnect\s.*seq 8\)/m],
    ['late-disconnect', /^\s*slave-2\s+late_disconnect\s.*kill of slave-2 at 1500 ms/m],
    ['wrong-reason', /^\s*slave-2\s+wrong_reason\s.*reason "timeout"/m],
    ['wrong-content', /^\s*slave-1\s+wrong_content\s+seq 4\s.*pc-7f3a-slave-9/m],
    ['duplicated-disconnect', /^\s*slave-3\s+duplicated_disconnect\s.*conn 5 .*reason "shutdown"/m],
    ['unended-connection', /^\s*slave-2\s+missing_disconnect\s.*conn 4 /m],
    ['lost-last-message', /^\s*slave-2\s+missing\s+seq 9\s/m],
  ])('exits 1 on %s, naming the node (and seq)', async (name, failureLine) => {
    const { code, stdout } = await runCli(['check', join(FIXTURES, name), '--no-write']);
    expect(stdout).toMatch(failureLine);
    expect(stdout).toContain('VERDICT: FAIL — 1 failure');
    expect(code).toBe(1);
  });

  it('exits 2 on slow-confirmation: a check that cannot be judged is not passed', async () => {
    const { code, stdout } = await runCli(['check', join(FIXTURES, 'slow-confirmation'), '--no-write']);
    expect(stdout).toMatch(/^\s*slave-3\s+slow_confirmation\s.*confirmed 10500 ms after its request/m);
    expect(stdout).toMatch(/^\s*#2 disconnect slave-3 @1000ms .* INCONCLUSIVE /m);
    expect(stdout).toContain('VERDICT: INCONCLUSIVE — 1 check cannot be judged, none failed');
    expect(code).toBe(2);
  });

  it('writes report.json and junit.xml into the run directory unless --no-write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-check-cli-'));
    try {
      cpSync(join(FIXTURES, 'missing-message'), dir, { recursive: true });
      const { code } = await runCli(['check', dir]);
      expect(code).toBe(1);
      const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as {
        verdict: string;
        failures: Array<{ node: string; kind: string; seq?: number }>;
      };
      expect(report.verdict).toBe('fail');
      expect(report.failures).toEqual([expect.objectContaining({ node: 'slave-1', kind: 'missing', seq: 5 })]);
      expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toContain('<failure message="slave-1 seq 5');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(existsSync(join(FIXTURES, 'clean', 'report.json'))).toBe(false);
  });

  it.each([
    [['check', join(FIXTURES, 'no-such-run')], 'run.json: cannot read: missing (PICLUSTER_ERR_INVALID_RUN)'],
    [['check'], 'expects exactly one run directory, got 0'],
    [['check', 'a', 'b'], 'expects exactly one run directory, got 2'],
    [['check', '.', '--bogus'], "Unknown option '--bogus'"],
  ])('exits 2 with one clear line for %j', (args, text) => expectUsageError(args, {}, text));

  it('documents itself in --help', async () => {
    const { code, stdout } = await runCli(['check', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('picluster check <run-dir>');
    expect(stdout).toContain('--no-write');
  });
});

describe('picluster check on run directories far larger than the usual', () => {
  let dir: string;
  useScratchRun('picluster-check-big-', (scratch) => (dir = scratch));

  it('judges a timeline of 150,000 faults without overflowing the stack', async () => {
    const info = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { startedAt: string };
    const at = new Date(Date.parse(info.startedAt) + 1000).toISOString();
    const entry = JSON.stringify({ action: 'unpause', target: 'slave-1', atMs: 1000, startedAt: at, confirmedAt: at });
    appendFileSync(join(dir, 'timeline.jsonl'), `${entry}\n`.repeat(150_000));
    const { code, stdout, stderr } = await runCli(['check', dir, '--no-write']);
    expect(stderr).toBe('');
    // Each unpause of a running slave only asks that it be seen again, and it is.
    expect(stdout).toMatch(/^\s+#149999 unpause slave-1 @1000ms .* ok /m);
    expect(stdout).toContain('VERDICT: PASS');
    expect(code).toBe(0);
  });

  it('reads the logs of 30,000 slaves one at a time: no EMFILE under a limit of 1,024 open files', async () => {
    const nodes: Record<string, string> = {};
    for (let i = 1; i <= 30_000; i += 1) {
      const name = `slave-${i}`;
      nodes[name] = `node-${i}`;
      const line = { timestamp: '2025-03-14T09:26:40.100Z', level: 'info', event: 'starting', node: nodes[name] };
      writeFileSync(join(dir, `${name}.jsonl`), `${JSON.stringify(line)}\n`);
    }
    const info = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...info, nodes }));
    const { code, stdout, stderr } = await runCli(['check', dir, '--no-write'], {}, { maxOpenFiles: 1024 });
    expect(stderr).toBe('');
    // No slave sent a message: the run cannot be judged, and says so.
    expect(stdout).toContain('VERDICT: INCONCLUSIVE');
    expect(stdout).toContain('no slave sent a message');
    expect(code).toBe(2);
    // 30,000 files to read: 14-17 s on an idle 2-core machine, beyond 60 s on a very busy one.
  }, 180_000);
});
