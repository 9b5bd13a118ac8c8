/**
 * `npm run bench:scale`: the master at scale, under each failure detector.
 * For every slave count in `SCALE_SLAVES` (default 1000,10000) and detector in
 * `SCALE_DETECTORS` (default fixed,phi) it writes a scenario
 * (bench/scale-summary.ts: heartbeat 1 s, `SCALE_SECONDS` long, default 60,
 * 13 slaves paused and 13 cut off for 6 s every 12 s, by name), runs it with
 * `picluster run --backend local` while `SCALE_BUSY` (default 2) CPU-bound
 * processes spin, and prints one table from each run's report.json and
 * run.json: verdict, wall time, master CPU and peak RSS, slave processes'
 * peak RSS, messages logged per second, detection latency of the pauses and
 * cuts, false disconnects; then phi's detection against fixed's.
 *
 * A FAIL or INCONCLUSIVE verdict is a result, printed in the table; the exit
 * code is non-zero only when the harness itself fails (a run that left no
 * report.json). Every run directory is kept, under one temp dir (printed),
 * beside each run's scenario and the terminal table `picluster run` printed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CheckReport, RunInfo } from '../src/orchestrator';
import { Interrupt, isInterrupted, startBusyProcesses } from './conditions';
import {
  formatScaleTable,
  phiVsFixed,
  SCALE_CYCLE_MS,
  SCALE_DETECTORS,
  SCALE_FAULT_MS,
  SCALE_FAULTED_PER_KIND,
  SCALE_MIN_SECONDS,
  SCALE_MIN_SLAVES,
  scaleScenarioYaml,
  summarizeRun,
  type ScaleDetector,
  type ScaleRow,
} from './scale-summary';
import { fmt } from './stats';

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

interface ScaleOptions {
  slaves: number[];
  detectors: ScaleDetector[];
  seconds: number;
  busy: number;
}

function list(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback)
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function options(): ScaleOptions {
  const slaves = list('SCALE_SLAVES', '1000,10000').map(Number);
  if (slaves.length === 0 || !slaves.every((n) => Number.isInteger(n) && n >= SCALE_MIN_SLAVES))
    throw new Error(`SCALE_SLAVES must list integers ≥ ${SCALE_MIN_SLAVES}, not ${process.env.SCALE_SLAVES}`);
  const detectors = list('SCALE_DETECTORS', SCALE_DETECTORS.join(','));
  const known = (d: string): d is ScaleDetector => (SCALE_DETECTORS as readonly string[]).includes(d);
  if (detectors.length === 0 || !detectors.every(known))
    throw new Error(`SCALE_DETECTORS must list ${SCALE_DETECTORS.join(', ')}, not ${process.env.SCALE_DETECTORS}`);
  const seconds = Number(process.env.SCALE_SECONDS ?? 60);
  if (!(Number.isInteger(seconds) && seconds >= SCALE_MIN_SECONDS))
    throw new Error(`SCALE_SECONDS must be an integer ≥ ${SCALE_MIN_SECONDS}, not ${process.env.SCALE_SECONDS}`);
  const busy = Number(process.env.SCALE_BUSY ?? 2);
  if (!(Number.isInteger(busy) && busy >= 0))
    throw new Error(`SCALE_BUSY must be a whole number, not ${process.env.SCALE_BUSY}`);
  return { slaves, detectors, seconds, busy };
}

/**
 * Runs `picluster run` on `file` into `outDir`, its terminal table (a line per
 * slave: 10,000 at scale) into `tableFile`, its stderr echoed; a signal to
 * this process is passed on as SIGTERM. Resolves with the wall time in ms.
 */
async function runScenario(file: string, outDir: string, tableFile: string, interrupt: Interrupt): Promise<number> {
  const started = performance.now();
  const table = openSync(tableFile, 'w');
  const child = spawn(process.execPath, [CLI, 'run', file, '--backend', 'local', '--out', outDir], {
    stdio: ['ignore', table, 'inherit'],
  });
  closeSync(table);
  // picluster run handles SIGTERM as Ctrl-C: it stops its nodes and exits 130.
  const forward = (): void => void child.kill('SIGTERM');
  interrupt.signal.addEventListener('abort', forward);
  const unhook = interrupt.onExitSync(() => child.kill('SIGKILL'));
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    if (code === null) throw new Error(`picluster run ${file} died of ${signal}`);
    return performance.now() - started;
  } finally {
    interrupt.signal.removeEventListener('abort', forward);
    unhook();
  }
}

async function measure(
  slaves: number,
  detector: ScaleDetector,
  dir: string,
  seconds: number,
  interrupt: Interrupt,
): Promise<ScaleRow> {
  const name = `scale-${slaves}-${detector}`;
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, scaleScenarioYaml(slaves, detector, seconds));
  const runDir = join(dir, name);
  console.log(`bench:scale: ${slaves} slaves, detector ${detector}, load average ${fmt(loadavg()[0]!, 1)}: ${file}`);
  const tableFile = join(dir, `${name}.txt`);
  const wallMs = await runScenario(file, runDir, tableFile, interrupt);
  interrupt.check();
  const verdict = readFileSync(tableFile, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('VERDICT') || line.startsWith('run directory'));
  for (const line of verdict) console.log(`  ${line}`);
  console.log(`  load average ${fmt(loadavg()[0]!, 1)} at the end`);
  console.log(`  (picluster run's table: ${tableFile})`);
  const reportFile = join(runDir, 'report.json');
  if (!existsSync(reportFile)) throw new Error(`picluster run left no report.json in ${runDir}`);
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as CheckReport;
  const info = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as RunInfo;
  return summarizeRun({
    slaves,
    detector,
    wallMs,
    runDir,
    report,
    ...(info.peakRss === undefined ? {} : { peakRss: info.peakRss }),
  });
}

async function main(): Promise<void> {
  const opts = options();
  const dir = mkdtempSync(join(tmpdir(), 'picluster-scale-'));
  console.log(
    `bench:scale: slaves ${opts.slaves.join(', ')}; detectors ${opts.detectors.join(', ')}; ` +
      `${opts.seconds} s each; ${opts.busy} busy processes; run directories under ${dir}`,
  );
  const interrupt = new Interrupt();
  const rows: ScaleRow[] = [];
  try {
    for (const slaves of opts.slaves) {
      for (const detector of opts.detectors) {
        // Started per run, stopped before the next: the busy processes load the run, not the report writing between.
        const busy = await startBusyProcesses(opts.busy, (opts.seconds + 600) * 1000, interrupt);
        try {
          rows.push(await measure(slaves, detector, dir, opts.seconds, interrupt));
        } finally {
          await busy.stop();
        }
      }
    }
  } finally {
    interrupt.dispose();
  }
  console.log('');
  console.log(
    `bench:scale: heartbeat 1 s, ${opts.seconds} s, ${SCALE_FAULTED_PER_KIND} slaves paused and ${SCALE_FAULTED_PER_KIND} cut for ${SCALE_FAULT_MS / 1000} s every ${SCALE_CYCLE_MS / 1000} s, ${opts.busy} busy processes`,
  );
  for (const line of formatScaleTable(rows)) console.log(line);
  for (const line of phiVsFixed(rows)) console.log(line);
  for (const row of rows) console.log(`  ${row.slaves} ${row.detector}: ${row.runDir}`);
}

main().catch((err: unknown) => {
  if (isInterrupted(err)) {
    process.exitCode = 130;
    return;
  }
  console.error(err);
  process.exitCode = 1;
});
