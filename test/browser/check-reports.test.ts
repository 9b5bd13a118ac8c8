// scripts/check-reports.mjs, which CI runs over every run directory: it passes
// the page `picluster check` writes, and names each problem of a page that
// fetches, logs an error, weighs too much or misses a lane or a fault window.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BROWSER_TEST_TIMEOUT_MS } from '../helpers/browser';
import { runCli } from '../helpers/cli';
import { useScratchRun } from '../helpers/run-fixtures';

jest.setTimeout(BROWSER_TEST_TIMEOUT_MS);

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'check-reports.mjs');

async function checkReports(...dirs: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [SCRIPT, ...dirs], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output.stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output.stderr += text));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, ...output };
}

/**
 * A page in the report's DOM contract for the clean fixture (slaves 1-3; its
 * timeline: #0 kill slave-2, #1 disconnect slave-3, #2 start, #3 pause
 * slave-1, #4 reconnect, #5 unpause), with `lanes` and `faults` drawn and
 * `extra` markup.
 */
function page(lanes: string[], faults: [number, string][], extra = ''): string {
  const g = lanes.map((node) => `<g class="lane" data-node="${node}"></g>`).join('');
  const rects = faults.map(
    ([index, action]) => `<rect class="fault" data-fault-index="${index}" data-action="${action}"/>`,
  );
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
</head><body><svg id="timeline">${g}${rects.join('')}</svg>${extra}
<script>document.body.dataset.rendered = 'true';</script></body></html>`;
}

const LANES = ['master', 'slave-1', 'slave-2', 'slave-3'];
const FAULTS: [number, string][] = [
  [0, 'kill'],
  [1, 'disconnect'],
  [3, 'pause'],
];

describe('scripts/check-reports.mjs', () => {
  let dir = '';
  useScratchRun('picluster-check-reports-', (scratch) => (dir = scratch));
  const write = (html: string): void => writeFileSync(join(dir, 'report.html'), html);

  it('passes the report.html that `picluster check` writes, with its size and render time', async () => {
    expect((await runCli(['check', dir])).code).toBe(0);
    const result = await checkReports(dir);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(new RegExp(`^ok   ${dir}  \\d+\\.\\d kB  render \\d+ ms\\n`));
    expect(result.stdout).toMatch(/check-reports: 1 of 1 report\(s\) ok \(Chromium /);
    expect(result.code).toBe(0);
  });

  it('passes a page with every lane and fault window and nothing else', async () => {
    write(page(LANES, FAULTS));
    const result = await checkReports(dir);
    expect(result.stdout).toMatch(/^ok {3}/);
    expect(result.code).toBe(0);
  });

  it('names each problem of a page: a request, a console error, a lane and windows wrong', async () => {
    const noisy = `<img src="http://127.0.0.1:9/pixel.png"><script>console.error('drawn badly')</script>`;
    write(
      page(
        ['master', 'slave-1', 'slave-2'],
        [
          [0, 'kill'],
          [1, 'reset'],
          [4, 'reconnect'],
        ],
        noisy,
      ),
    );
    const result = await checkReports(dir);
    expect(result.code).toBe(1);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^FAIL ${dir}  `));
    const problems = lines.map((line) => line.trim());
    expect(problems).toEqual(
      expect.arrayContaining([
        'request GET http://127.0.0.1:9/pixel.png',
        'console error: drawn badly',
        'lanes ["master","slave-1","slave-2"], expected ["master","slave-1","slave-2","slave-3"]',
        'fault #1 drawn as reset, timeline says disconnect',
        'fault window #4 (reconnect) is no fault of timeline.jsonl',
        'fault #3 (pause) has no window',
      ]),
    );
    expect(result.stdout).toMatch(/check-reports: 0 of 1 report\(s\) ok/);
  });

  it('fails a page of 1 MB or more, and a run directory without a page', async () => {
    write(page(LANES, FAULTS, `<!--${'x'.repeat(1_000_000)}-->`));
    const heavy = await checkReports(dir);
    expect(heavy.code).toBe(1);
    expect(heavy.stdout).toMatch(/^ {7}\d+ bytes, the limit is under 1000000$/m);
    unlinkSync(join(dir, 'report.html'));
    const none = await checkReports(dir);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('no report.html');
  });

  it('fails a directory that holds no run', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'picluster-no-run-'));
    try {
      const result = await checkReports(empty);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('no run directory (run.json) here');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
