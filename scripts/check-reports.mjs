#!/usr/bin/env node
// Opens the report.html of every run directory (a directory holding run.json)
// under the given directories in headless Chromium and checks what issue 16
// asks of each: under 1 MB, no request at all, no console error, no page
// error, one lane per node (the master and each slave of run.json), one fault
// window per fault of timeline.jsonl. Prints one line per report with its size
// and render time (navigation start -> body[data-rendered]), printed, never
// judged; exits 1 on any problem, 2 on a usage error. --repeat N opens each
// page N times, each in a fresh page, and prints the median render time.
//
//   node scripts/check-reports.mjs [--repeat N] <dir>...      (after `npm run build`)
//
// The browser is Debian's chromium (scripts/setup-browser.sh) or
// PICLUSTER_CHROMIUM, driven by playwright-core, which downloads none.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const load = createRequire(import.meta.url);
const { findChromium } = load('./find-chromium.js');
const { chromium } = load('playwright-core');
const { ACTION_SPECS } = load(join(root, 'dist', 'orchestrator', 'actions.js'));

/** The most a report.html may weigh, in bytes. */
const MAX_REPORT_BYTES = 1_000_000;
/** How long a page may take to say it has drawn, in ms: a failure past it, not a measurement. */
const RENDER_WAIT_MS = 60_000;

/** Actions that end a fault (heal, reconnect, start, unpause): drawn as the end of a window, not as one. */
const ENDINGS = new Set(Object.values(ACTION_SPECS).flatMap((spec) => (spec.endedBy ? [spec.endedBy] : [])));

/** Records when the page has drawn: window.__renderedAtMs. */
const RENDER_PROBE = join(root, 'scripts', 'render-probe.js');

/** Every run directory at or under `dir`, in name order. */
function runDirectories(dir) {
  const found = existsSync(join(dir, 'run.json')) ? [dir] : [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.isDirectory()) found.push(...runDirectories(join(dir, entry.name)));
  }
  return found;
}

function jsonLines(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

/** What the page must show of `runDir`: its lanes and its fault windows (timeline index -> action). */
function expected(runDir) {
  const info = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8'));
  const faults = new Map();
  jsonLines(join(runDir, 'timeline.jsonl')).forEach((entry, index) => {
    if (!ENDINGS.has(entry.action)) faults.set(String(index), entry.action);
  });
  return { lanes: ['master', ...Object.keys(info.nodes)].sort(), faults };
}

/** What the drawn page holds: its lanes and fault windows, read from the DOM (text: it runs in the page). */
const DRAWN = `({
  lanes: [...document.querySelectorAll('svg#timeline g.lane')].map((g) => g.getAttribute('data-node')),
  faults: [...document.querySelectorAll('svg#timeline rect.fault')].map((rect) => [
    rect.getAttribute('data-fault-index'),
    rect.getAttribute('data-action'),
  ]),
})`;

function compare(want, got) {
  const problems = [];
  const lanes = [...got.lanes].sort();
  if (JSON.stringify(lanes) !== JSON.stringify(want.lanes)) {
    problems.push(`lanes ${JSON.stringify(lanes)}, expected ${JSON.stringify(want.lanes)}`);
  }
  const seen = new Map();
  for (const [index, action] of got.faults) {
    if (seen.has(index)) problems.push(`fault #${index} drawn more than once`);
    seen.set(index, action);
    if (!want.faults.has(index)) problems.push(`fault window #${index} (${action}) is no fault of timeline.jsonl`);
    else if (want.faults.get(index) !== action) {
      problems.push(`fault #${index} drawn as ${action}, timeline says ${want.faults.get(index)}`);
    }
  }
  for (const [index, action] of want.faults) {
    if (!seen.has(index)) problems.push(`fault #${index} (${action}) has no window`);
  }
  return problems;
}

/** Opens `file` once in a new page; resolves with what went wrong and when it had drawn (page clock, ms). */
async function openOnce(browser, file, runDir) {
  const problems = [];
  const page = await browser.newPage();
  const url = pathToFileURL(file).href;
  page.on('request', (request) => {
    if (request.url() !== url) problems.push(`request ${request.method()} ${request.url()}`);
  });
  page.on('requestfailed', (request) => problems.push(`request failed ${request.url()}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error}`));
  try {
    await page.addInitScript({ path: RENDER_PROBE });
    await page.goto(url);
    await page.waitForFunction("document.body?.dataset.rendered === 'true'", undefined, { timeout: RENDER_WAIT_MS });
    const renderMs = await page.evaluate('window.__renderedAtMs');
    problems.push(...compare(expected(runDir), await page.evaluate(DRAWN)));
    return { problems, renderMs };
  } catch (error) {
    return { problems: [...problems, `did not draw: ${error.message.split('\n')[0]}`] };
  } finally {
    await page.close();
  }
}

/** Opens one report `repeat` times, each in a fresh page; resolves with its problems, size and render times. */
async function checkReport(browser, runDir, repeat) {
  const file = join(runDir, 'report.html');
  if (!existsSync(file)) return { problems: ['no report.html'] };
  const bytes = statSync(file).size;
  const problems = new Set(bytes < MAX_REPORT_BYTES ? [] : [`${bytes} bytes, the limit is under ${MAX_REPORT_BYTES}`]);
  const renderMs = [];
  for (let n = 0; n < repeat; n += 1) {
    const opened = await openOnce(browser, file, runDir);
    opened.problems.forEach((problem) => problems.add(problem));
    if (opened.renderMs === undefined) break;
    renderMs.push(opened.renderMs);
  }
  return { problems: [...problems], bytes, renderMs: renderMs.sort((a, b) => a - b) };
}

/** `render 123 ms`, or with repeats `render 123 ms (median of 5, min 110, max 140)`. */
function renderText(times) {
  if (times === undefined || times.length === 0) return '';
  const median = times[Math.floor((times.length - 1) / 2)];
  const spread =
    times.length === 1
      ? ''
      : ` (median of ${times.length}, min ${times[0].toFixed(0)}, max ${times.at(-1).toFixed(0)})`;
  return `  render ${median.toFixed(0)} ms${spread}`;
}

function formatLine(name, result) {
  const size = result.bytes === undefined ? '' : `  ${(result.bytes / 1000).toFixed(1)} kB`;
  const head = `${result.problems.length === 0 ? 'ok  ' : 'FAIL'} ${name}${size}${renderText(result.renderMs)}`;
  return [head, ...result.problems.map((problem) => `       ${problem}`)].join('\n');
}

const USAGE = 'usage: node scripts/check-reports.mjs [--repeat N] <dir>...\n';

async function main(args) {
  const { values, positionals: dirs } = parseArgs({
    args,
    allowPositionals: true,
    options: { repeat: { type: 'string', default: '1' } },
  });
  const repeat = Number(values.repeat);
  if (dirs.length === 0 || !Number.isInteger(repeat) || repeat < 1 || repeat > 100) {
    process.stderr.write(USAGE);
    return 2;
  }
  const runs = dirs.flatMap((dir) => {
    if (!existsSync(dir)) return [{ dir, missing: true }];
    const found = runDirectories(dir);
    return found.length === 0 ? [{ dir, missing: true }] : found.map((runDir) => ({ dir: runDir }));
  });
  const browserFound = findChromium();
  if (!browserFound.ok) {
    process.stderr.write(`check-reports: ${browserFound.why}; run scripts/setup-browser.sh\n`);
    return 1;
  }
  const browser = await chromium.launch({ executablePath: browserFound.path, args: ['--no-sandbox'] });
  let failed = 0;
  try {
    for (const run of runs) {
      const result = run.missing
        ? { problems: ['no run directory (run.json) here'] }
        : await checkReport(browser, run.dir, repeat);
      if (result.problems.length > 0) failed += 1;
      process.stdout.write(`${formatLine(run.dir, result)}\n`);
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(
    `check-reports: ${runs.length - failed} of ${runs.length} report(s) ok (${browserFound.version})\n`,
  );
  return failed === 0 ? 0 : 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // parseArgs: an unknown option or a missing value.
  if (error.code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`check-reports: ${error.message}\n${USAGE}`);
    process.exitCode = 2;
  } else throw error;
}
