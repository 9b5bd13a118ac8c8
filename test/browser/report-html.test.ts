// report.html in headless Chromium, through the DOM contract the page keeps
// (docs/report-html.md, "For scripts and tests: the DOM"): a real run of a shipped
// scenario with faults on the local backend, and a failing run with hostile
// text in its logs. Each page's screenshot goes to artifacts/screenshots/.
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ACTION_SPECS, type CheckReport } from '../../src/orchestrator';
import type { RunInfo, TimelineEntry } from '../../src/orchestrator/types';
import {
  BROWSER_TEST_TIMEOUT_MS,
  attributesOf,
  launchBrowser,
  openPage,
  saveScreenshot,
  type OpenedPage,
} from '../helpers/browser';
import { runCli } from '../helpers/cli';
import { readJsonLines } from '../helpers/json-lines';
import { RUN_FIXTURES } from '../helpers/run-fixtures';

jest.setTimeout(BROWSER_TEST_TIMEOUT_MS);

const SCENARIO = join(__dirname, '..', '..', 'scenarios', 'kill-and-cut.yaml');
/** A page that weighs this much or more fails issue 16's limit. */
const MAX_REPORT_BYTES = 1_000_000;
/** Actions that end a fault window (heal, reconnect, start, unpause): no window of their own. */
const ENDINGS = new Set(Object.values(ACTION_SPECS).flatMap((spec) => (spec.endedBy ? [spec.endedBy] : [])));
/** Markup that must stay text: it sets `window.__pwned` or fetches `x` if it ever becomes elements. */
const HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

interface RunFiles {
  info: RunInfo;
  timeline: TimelineEntry[];
  report: CheckReport;
  disconnects: { node: string; reason: string }[];
}

function readRun(dir: string): RunFiles {
  const json = (name: string): unknown => JSON.parse(readFileSync(join(dir, name), 'utf8'));
  const master = readJsonLines(join(dir, 'master.jsonl'));
  return {
    info: json('run.json') as RunInfo,
    timeline: readJsonLines(join(dir, 'timeline.jsonl')) as unknown as TimelineEntry[],
    report: json('report.json') as CheckReport,
    disconnects: master
      .filter((line) => line.event === 'disconnect')
      .map((line) => ({ node: String(line.node), reason: String(line.reason) })),
  };
}

const sorted = <T>(items: T[]): T[] => [...items].sort();

async function count(page: Page, selector: string): Promise<number> {
  return page.locator(selector).count();
}

let browser: Browser;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'picluster-report-html-'));
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

/** A run directory of the test and its report.html opened in Chromium. */
interface OpenedRun {
  dir: string;
  run: RunFiles;
  opened: OpenedPage;
}

/**
 * Before the calling `describe`'s tests, makes the run directory `name` with
 * `make`, opens its report.html and saves its screenshot as `name`; closes
 * the page after them. Returns a getter of the opened run.
 */
function useOpenedRun(name: string, make: (dir: string) => Promise<void>): () => OpenedRun {
  let current: OpenedRun | undefined;
  beforeAll(async () => {
    const dir = join(tmp, name);
    await make(dir);
    const opened = await openPage(browser, join(dir, 'report.html'));
    current = { dir, run: readRun(dir), opened };
    await saveScreenshot(opened.page, name);
  }, BROWSER_TEST_TIMEOUT_MS);
  afterAll(async () => current?.opened.page.close());
  return () => {
    if (current === undefined) throw new Error(`the run ${name} was not made`);
    return current;
  };
}

describe('report.html of a real run: kill-and-cut on the local backend', () => {
  const report = useOpenedRun('kill-and-cut', async (dir) => {
    const result = await runCli(['run', SCENARIO, '--backend', 'local', '--out', dir]);
    if (result.code !== 0) throw new Error(`picluster run exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  });

  it('opens from disk under 1 MB with no request, no console error and no page error', async () => {
    const { dir, opened } = report();
    expect(statSync(join(dir, 'report.html')).size).toBeLessThan(MAX_REPORT_BYTES);
    const csp = await opened.page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
    expect(csp).toMatch(/^default-src 'none';/);
    expect(opened.record).toEqual({ requests: [], failedRequests: [], consoleErrors: [], pageErrors: [] });
  });

  it('shows the verdict, a table row per slave and per fault expectation', async () => {
    const { run, opened } = report();
    const { page } = opened;
    expect(run.report.verdict).toBe('pass');
    expect(await page.getAttribute('body', 'data-verdict')).toBe('pass');
    expect(await page.textContent('#verdict')).toMatch(/^\s*VERDICT: PASS/);
    const rows = await attributesOf(page, 'table#nodes tbody tr', ['data-node']);
    expect(rows.map((row) => row['data-node'])).toEqual(run.report.nodes.map((node) => node.name));
    const faults = await attributesOf(page, 'table#faults tr[data-fault-index]', ['data-fault-index']);
    expect(sorted(faults.map((row) => row['data-fault-index']))).toEqual(
      sorted(run.report.expectations.map((row) => String(row.fault.index))),
    );
    expect(await count(page, '#failures li')).toBe(0);
    expect(await count(page, '#legend')).toBe(1);
  });

  it('draws a lane for the master and one per slave', async () => {
    const { run, opened } = report();
    const lanes = await attributesOf(opened.page, 'svg#timeline g.lane', ['data-node']);
    const slaves = Object.keys(run.info.nodes);
    expect(slaves).toHaveLength(5);
    expect(lanes).toHaveLength(slaves.length + 1);
    expect(sorted(lanes.map((lane) => lane['data-node']))).toEqual(sorted(['master', ...slaves]));
    for (const lane of await opened.page.locator('svg#timeline g.lane').all()) {
      expect((await lane.boundingBox())?.height).toBeGreaterThan(5);
    }
  });

  it("draws one window per fault of the timeline, with its action, on its target's lane", async () => {
    const { run, opened } = report();
    const faults = run.timeline.flatMap((entry, index) => (ENDINGS.has(entry.action) ? [] : [{ entry, index }]));
    // kill slave-2, disconnect slave-3 and slave-4, pause slave-5.
    expect(faults.map(({ entry }) => `${entry.action} ${entry.target}`)).toEqual(
      expect.arrayContaining(['kill slave-2', 'disconnect slave-3', 'disconnect slave-4', 'pause slave-5']),
    );
    expect(await count(opened.page, 'svg#timeline rect.fault')).toBe(faults.length);
    for (const { entry, index } of faults) {
      const lane = `svg#timeline g.lane[data-node="${entry.target}"]`;
      const rect = `${lane} rect.fault[data-fault-index="${index}"]`;
      expect(await attributesOf(opened.page, rect, ['data-action'])).toEqual([{ 'data-action': entry.action }]);
      // On screen, and at least 2 px wide: an instantaneous kill too (0.1 px of rounding allowed).
      const box = await opened.page.locator(rect).boundingBox();
      expect(box?.width).toBeGreaterThanOrEqual(1.9);
    }
  });

  it('marks every disconnect the master logged, with its reason', async () => {
    const { run, opened } = report();
    const marks = await attributesOf(opened.page, 'svg#timeline g.disconnect', ['data-node', 'data-reason']);
    // The kill, the two cuts and the pause at least; the end of the run closes the others.
    expect(run.disconnects.length).toBeGreaterThanOrEqual(4);
    const nameOf = new Map(Object.entries(run.info.nodes).map(([name, node]) => [node, name]));
    const want = run.disconnects.map(({ node, reason }) => `${nameOf.get(node) ?? node} ${reason}`);
    expect(sorted(marks.map((mark) => `${mark['data-node']} ${mark['data-reason']}`))).toEqual(sorted(want));
  });

  it("draws every message the master logged, one by one or in bands, in its slave's lane", async () => {
    const { run, opened } = report();
    for (const row of run.report.nodes) {
      const group = `svg#timeline g.messages[data-node="${row.name}"]`;
      const bands = await attributesOf(opened.page, `${group} path.band`, ['data-count']);
      const single = await count(opened.page, `${group} line.msg`);
      const drawn = single + bands.reduce((sum, band) => sum + Number(band['data-count']), 0);
      expect({ node: row.name, drawn }).toEqual({ node: row.name, drawn: row.logged });
      expect(row.logged).toBeGreaterThan(0);
    }
  });
});

/**
 * A failing run from the wrong-content fixture, `hostile` or not: the message
 * the master logged in the wrong is markup, and a node the run does not know
 * says hello under a name that is markup too. `picluster check` judges it and
 * writes its report.html.
 */
async function hostileRun(dir: string, hostile: boolean): Promise<void> {
  cpSync(join(RUN_FIXTURES, 'wrong-content'), dir, { recursive: true });
  if (hostile) makeHostile(join(dir, 'master.jsonl'));
  const result = await runCli(['check', dir]);
  if (result.code !== 1)
    throw new Error(`picluster check exited ${result.code}, not 1:\n${result.stdout}\n${result.stderr}`);
}

function makeHostile(file: string): void {
  const lines = readJsonLines(file).flatMap((line) => {
    if (line.event === 'message' && line.seq === 4 && line.node === 'pc-7f3a-slave-1') {
      return [{ ...line, message: `Received message: ${HOSTILE}` }];
    }
    // The first process's hello only: the second one's (after its restart) would add the stranger twice.
    if (line.event === 'message' && line.seq === 1 && line.node === 'pc-7f3a-slave-2' && line.conn === 2) {
      const at = '2025-03-14T09:26:40.070Z';
      const connect = { timestamp: at, level: 'info', event: 'connect', message: 'Client connected', conn: 99 };
      const stranger = { ...line, timestamp: at, node: HOSTILE, conn: 99, message: `Hello World, ${HOSTILE}` };
      return [line, { ...connect, remote: '127.0.0.1:1', node: '127.0.0.1:1' }, stranger];
    }
    return [line];
  });
  writeFileSync(file, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
}

describe('report.html of a failing run with markup in its logs', () => {
  const plainDir = (): string => join(tmp, 'plain');
  const report = useOpenedRun('failing-run', async (dir) => {
    await Promise.all([hostileRun(dir, true), hostileRun(plainDir(), false)]);
  });

  it('says FAIL and lists every failure, each linked to and from a red marker on the diagram', async () => {
    const { run, opened } = report();
    const { page } = opened;
    expect(await page.getAttribute('body', 'data-verdict')).toBe('fail');
    expect(await page.textContent('#verdict')).toMatch(/^\s*VERDICT: FAIL/);
    const { failures } = run.report;
    // One of each: the doctored message, and the stranger's one hello.
    expect(sorted(failures.map((failure) => failure.kind))).toEqual(['unexpected', 'wrong_content']);
    const entries = await attributesOf(page, '#failures li', ['id', 'data-failure-kind']);
    expect(entries).toEqual(failures.map((failure, k) => ({ id: `failure-${k}`, 'data-failure-kind': failure.kind })));
    for (const k of failures.keys()) {
      const marker = `svg#timeline g.failure-marker[data-failure="${k}"]`;
      expect(await count(page, marker)).toBe(1);
      expect(await count(page, `${marker} title`)).toBe(1);
      expect(await count(page, `${marker} a[href="#failure-${k}"]`)).toBe(1);
      expect(await count(page, `#failure-${k} a[href="#marker-${k}"]`)).toBe(1);
    }
    expect(await count(page, 'svg#timeline g.failure-marker')).toBe(failures.length);
  });

  it('shows the markup as text: no element made of it, no script run, nothing fetched', async () => {
    const { page, record } = report().opened;
    expect(record).toEqual({ requests: [], failedRequests: [], consoleErrors: [], pageErrors: [] });
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(await count(page, 'img[src="x"], img[onerror]')).toBe(0);
    expect(await page.textContent('#failures')).toContain(HOSTILE);
    // The same scripts as the page of the same run without the markup: its own, no more.
    const scripts = await page.evaluate('document.scripts.length');
    expect(scripts).toBeGreaterThan(0);
    const plain = await openPage(browser, join(plainDir(), 'report.html'));
    expect(await plain.page.evaluate('document.scripts.length')).toBe(scripts);
    await plain.page.close();
  });
});
