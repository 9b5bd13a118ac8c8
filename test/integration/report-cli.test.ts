import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckReport } from '../../src/orchestrator';
import { CLI, expectUsageError, runCli, SPAWN_TEST_TIMEOUT_MS } from '../helpers/cli';
import { readJsonLines } from '../helpers/json-lines';
import { pageFacts } from '../helpers/report-page';
import { RUN_FIXTURES } from '../helpers/run-fixtures';
import { waitUntil } from '../helpers/wait';

const SCENARIOS = join(__dirname, '..', 'fixtures', 'scenarios');

// Every test here runs picluster as a child process; one runs a whole scenario.
jest.setTimeout(3 * SPAWN_TEST_TIMEOUT_MS);

let tmp: string;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
});

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'picluster-report-cli-'));
});

afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A copy of the fixture run `name` in the test's directory. */
function scratchRun(name: string): string {
  const dir = join(tmp, name);
  cpSync(join(RUN_FIXTURES, name), dir, { recursive: true });
  return dir;
}

/** A directory holding an executable `name` that writes its arguments into `<dir>/opened`. */
function fakeOpener(name: string): string {
  const bin = join(tmp, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, name),
    `#!/bin/sh\nprintf '%s' "$1" > "${join(bin, 'opened')}.part" && mv "${join(bin, 'opened')}.part" "${join(bin, 'opened')}"\n`,
  );
  chmodSync(join(bin, name), 0o755);
  return bin;
}

describe('picluster report', () => {
  it('runs a local scenario whose run directory has report.html, and writes it again from the logs', async () => {
    const dir = join(tmp, 'run');
    const run = await runCli(['run', join(SCENARIOS, 'local-faults.yaml'), '--backend', 'local', '--out', dir]);
    expect(run.stdout).toContain('VERDICT: PASS');
    expect(run.code).toBe(0);
    const first = readFileSync(join(dir, 'report.html'), 'utf8');
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as CheckReport;
    rmSync(join(dir, 'report.html'));
    const reportJson = statSync(join(dir, 'report.json')).mtimeMs;

    const { code, stdout, stderr } = await runCli(['report', dir]);
    expect(stderr).toBe('');
    expect(stdout).toBe(`Wrote ${join(dir, 'report.html')} (verdict pass)\n`);
    expect(code).toBe(0);
    // Only the page: report.json is left as it was.
    expect(statSync(join(dir, 'report.json')).mtimeMs).toBe(reportJson);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toBe(first);
    expect(Buffer.byteLength(html)).toBeLessThan(1024 * 1024);

    const facts = pageFacts(html);
    expect(facts.verdict).toBe('pass');
    expect(facts.lanes).toEqual(['master', 'slave-1', 'slave-2', 'slave-3', 'slave-4']);
    // kill, stop, disconnect, pause and the master restart; starts, the reconnect and the unpause end them.
    expect(facts.faults.map((f) => f.action).sort()).toEqual(['disconnect', 'kill', 'master-restart', 'pause', 'stop']);
    const disconnects = readJsonLines(join(dir, 'master.jsonl')).filter((l) => l.event === 'disconnect');
    expect(facts.disconnects).toHaveLength(disconnects.length);
    for (const node of report.nodes) expect(facts.messagesPerNode.get(node.name)).toBe(node.logged);
    expect(facts.failures).toEqual([]);
  });

  it('writes the page of a failed run and exits 0; check gives the verdict', async () => {
    const dir = scratchRun('missing-message');
    const { code, stdout } = await runCli(['report', dir]);
    expect(stdout).toBe(`Wrote ${join(dir, 'report.html')} (verdict fail)\n`);
    expect(code).toBe(0);
    expect(existsSync(join(dir, 'report.json'))).toBe(false);
    const facts = pageFacts(readFileSync(join(dir, 'report.html'), 'utf8'));
    expect(facts.failures).toEqual([[0, 'missing']]);
    expect(facts.failureMarkers).toEqual([0]);
  });

  it('exits 2 naming the file when the run directory cannot be read', async () => {
    const dir = scratchRun('clean');
    rmSync(join(dir, 'run.json'));
    const { code, stdout, stderr } = await runCli(['report', dir]);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^picluster report: cannot write report\.html for .*run\.json: cannot read: missing/);
    expect(code).toBe(2);
    expect(existsSync(join(dir, 'report.html'))).toBe(false);
  });

  it('--open starts xdg-open with the page', async () => {
    const dir = scratchRun('clean');
    const bin = fakeOpener('xdg-open');
    const { code, stderr } = await runCli(['report', dir, '--open'], { PATH: `${bin}:${process.env.PATH ?? ''}` });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    await waitUntil(() => existsSync(join(bin, 'opened')), 10_000, 'the fake xdg-open never wrote its argument');
    expect(readFileSync(join(bin, 'opened'), 'utf8')).toBe(join(dir, 'report.html'));
  });

  it('--open without an opener on PATH writes the page, then exits 2 naming what is missing', async () => {
    const dir = scratchRun('clean');
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    const { code, stdout, stderr } = await runCli(['report', dir, '--open'], { PATH: empty });
    expect(stdout).toContain(`Wrote ${join(dir, 'report.html')}`);
    expect(stderr).toBe(
      `picluster report: cannot open the page: no "xdg-open" on PATH (install xdg-utils, or open ${join(dir, 'report.html')} in a browser)\n`,
    );
    expect(code).toBe(2);
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
  });

  it('refuses no run directory or two', async () => {
    await expectUsageError(['report'], {}, 'expects exactly one run directory, got 0');
    await expectUsageError(['report', 'a', 'b'], {}, 'expects exactly one run directory, got 2');
  });
});
