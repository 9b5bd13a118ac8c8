/**
 * `picluster shrink`: the glue between a failing run directory and the pure
 * search of shrink.ts. Reads the run (its `scenario.yaml`, `run.json`'s seed
 * and events), checks it again for its failure kind, re-runs each candidate
 * schedule with a backend into `<run-dir>/shrink/run-NNN/`, and writes the
 * smallest failing scenario as YAML.
 *
 * The failure kind of a run ({@link failureKindOf}) is the sorted set of the
 * distinct `kind`s of its check's failures, joined by `+`
 * (`late_disconnect+missing`): a candidate is kept only when its run fails
 * in exactly the same ways, no fewer and no more.
 */
import { existsSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeControl, PiclusterError } from '../common';
import type { Backend } from './backend';
import { checkRun, type CheckReport } from './checker';
import { makeDirectories, openRunDirectory, RUN_FILES } from './run-directory';
import { runScenario, type ProgressStream } from './runner';
import { loadScenario, parseScenario, ScenarioError } from './scenario';
import { scenarioToYaml } from './scenario-yaml';
import { shrinkSchedule, type ShrinkResult, type ShrinkRun, type ShrinkVerdict } from './shrink';
import type { Scenario, ScenarioEvent } from './types';

/** `--max-runs` when unset: re-runs a shrink may make. */
export const DEFAULT_SHRINK_MAX_RUNS = 30;

/** Largest `--max-runs`. */
export const MAX_SHRINK_MAX_RUNS = 10_000;

/** Where a shrink writes, inside the run directory it shrinks. */
export const SHRINK_FILES = {
  /** The shrunk scenario, unless `out` says otherwise. */
  shrunk: 'shrunk.yaml',
  /** The re-runs: `shrink/run-001/`, … (only those that failed the same way are kept). */
  runs: 'shrink',
} as const;

export interface ShrinkRunOptions {
  /** The failing run directory. */
  runDir: string;
  /** What re-runs the candidates; the CLI's default is the run's own backend. */
  backend: Backend;
  /** Most re-runs. Default {@link DEFAULT_SHRINK_MAX_RUNS}. */
  maxRuns?: number;
  /** Where the shrunk scenario goes. Default `<runDir>/shrunk.yaml`. */
  out?: string;
  /** Aborting stops the re-run in progress; the smallest failing schedule found so far is still written. */
  signal?: AbortSignal;
  /** Each re-run's progress display (runner.ts); `false` for none. Default false. */
  progress?: ProgressStream | false;
  /** Told of each judged re-run, with the directory it ran in. */
  onRun?: (run: ShrinkRun<ScenarioEvent>, runDir: string) => void;
}

/** What a shrink did: it wrote a scenario, or the run did not fail and there was nothing to shrink. */
export type ShrinkRunResult =
  | {
      status: 'shrunk';
      /** The scenario file written. */
      file: string;
      /** The failure kind kept ({@link failureKindOf}). */
      kind: string;
      /** Events of the original run and of the shrunk scenario. */
      eventsBefore: number;
      eventsAfter: number;
      /** Re-runs made; candidates the validator refused (not run). */
      runs: number;
      skipped: number;
      /** Stopped at `maxRuns` with candidates left. */
      exhausted: boolean;
      /** Stopped by `signal`: the file holds the smallest failing schedule found until then. */
      interrupted: boolean;
      /** The re-run of the shrunk scenario, when one was made (none when nothing smaller failed). */
      lastRunDir?: string;
    }
  | { status: 'passed' | 'inconclusive'; report: CheckReport };

/**
 * The failure kind of a checked run: the sorted distinct kinds of its
 * failures joined by `+` when it failed; `pass` or `inconclusive` otherwise.
 */
export function failureKindOf(report: CheckReport): string {
  if (report.verdict !== 'fail') return report.verdict;
  return [...new Set(report.failures.map((failure) => failure.kind))].sort().join('+');
}

/** The run's schedule as it ran: `run.json`'s events when it has them, else the scenario's with the run's seed. */
async function loadFailingRun(runDir: string): Promise<{ scenario: Scenario; report: CheckReport }> {
  const source = await openRunDirectory(runDir);
  const report = checkRun(source);
  const { info } = source;
  const loaded = loadScenario(join(runDir, RUN_FILES.scenario), info.seed === undefined ? {} : { seed: info.seed });
  const events: ScenarioEvent[] = (info.events ?? loaded.events).map((event) => {
    const copy: ScenarioEvent = { ...event };
    delete copy.line;
    return copy;
  });
  const scenario: Scenario = { ...loaded, events };
  delete scenario.seed;
  return { scenario, report };
}

/** The first `<dir>/run-NNN` not taken yet (an earlier shrink of the same run keeps its own). */
function freeRunDir(dir: string, from: number): { path: string; number: number } {
  for (let n = from; ; n += 1) {
    const path = join(dir, `run-${String(n).padStart(3, '0')}`);
    if (!existsSync(path) && !existsSync(`${path}.yaml`)) return { path, number: n };
  }
}

/** Re-runs candidates of `base`, each into its own directory, and judges them. */
class Rerunner {
  private next = 1;
  /** The directory of the last candidate judged. */
  lastDir = '';

  constructor(
    private readonly base: Scenario,
    private readonly shrinkDir: string,
    private readonly options: ShrinkRunOptions,
  ) {}

  yamlOf(events: readonly ScenarioEvent[]): string {
    return scenarioToYaml({ ...this.base, events: [...events] });
  }

  validate(events: readonly ScenarioEvent[]): boolean {
    try {
      parseScenario(this.yamlOf(events), this.base.file);
      return true;
    } catch (err) {
      if (err instanceof ScenarioError) return false;
      throw err;
    }
  }

  async judge(events: readonly ScenarioEvent[]): Promise<ShrinkVerdict> {
    makeDirectories(this.shrinkDir);
    const { path, number } = freeRunDir(this.shrinkDir, this.next);
    this.next = number + 1;
    this.lastDir = path;
    // The runner copies the scenario file into the run directory: this one is only its source.
    const file = `${path}.yaml`;
    writeFileSync(file, this.yamlOf(events));
    try {
      const { backend, signal, progress } = this.options;
      const result = await runScenario(loadScenario(file), {
        backend,
        outDir: path,
        signal,
        progress: progress ?? false,
      });
      if (!result.complete) return { failed: false, kind: 'inconclusive' };
      return { failed: result.report.verdict === 'fail', kind: failureKindOf(result.report) };
    } catch (err) {
      // A run that could not be carried out (a node that would not start) does not reproduce the failure.
      if (!(err instanceof PiclusterError) || err.code === 'PICLUSTER_ERR_RUN_ABORTED') throw err;
      return { failed: false, kind: `error ${err.code}` };
    } finally {
      unlinkSync(file);
    }
  }
}

/**
 * Shrinks the failing run in `options.runDir`: writes the smallest failing
 * scenario found, or says the run did not fail. Throws a `RunDirectoryError`
 * or a `ScenarioError` when the run directory cannot be read.
 */
export async function shrinkRunDirectory(options: ShrinkRunOptions): Promise<ShrinkRunResult> {
  const { runDir } = options;
  const { scenario, report } = await loadFailingRun(runDir);
  if (report.verdict !== 'fail') return { status: report.verdict === 'pass' ? 'passed' : 'inconclusive', report };
  const kind = failureKindOf(report);
  const rerunner = new Rerunner(scenario, join(runDir, SHRINK_FILES.runs), options);
  const maxRuns = options.maxRuns ?? DEFAULT_SHRINK_MAX_RUNS;
  let best = scenario.events;
  let lastRunDir: string | undefined;
  let interrupted = false;
  let judged = 0;
  let shrunk: ShrinkResult<ScenarioEvent> | undefined;
  try {
    shrunk = await shrinkSchedule({
      events: scenario.events,
      kind,
      maxRuns,
      validate: (events) => rerunner.validate(events),
      judge: (events) => rerunner.judge(events),
      onRun: (run) => {
        judged = run.run;
        if (run.kept) {
          best = [...run.events];
          lastRunDir = rerunner.lastDir;
        } else {
          // Only the re-runs that failed the same way are worth keeping.
          rmSync(rerunner.lastDir, { recursive: true, force: true });
        }
        options.onRun?.(run, rerunner.lastDir);
      },
    });
  } catch (err) {
    if (!(err instanceof PiclusterError) || err.code !== 'PICLUSTER_ERR_RUN_ABORTED') throw err;
    interrupted = true;
    // The re-run the abort cut short proves nothing.
    if (rerunner.lastDir !== '' && rerunner.lastDir !== lastRunDir)
      rmSync(rerunner.lastDir, { recursive: true, force: true });
  }
  const runs = shrunk?.runs ?? judged;
  const file = options.out ?? join(runDir, SHRINK_FILES.shrunk);
  const result = {
    status: 'shrunk' as const,
    file,
    kind,
    eventsBefore: scenario.events.length,
    eventsAfter: best.length,
    runs,
    skipped: shrunk?.skipped ?? 0,
    exhausted: shrunk?.exhausted ?? false,
    interrupted,
    ...(lastRunDir === undefined ? {} : { lastRunDir }),
  };
  writeFileSync(file, scenarioToYaml({ ...scenario, events: best }, headerOf(runDir, scenario, result)));
  return result;
}

function headerOf(
  runDir: string,
  scenario: Scenario,
  result: Extract<ShrinkRunResult, { status: 'shrunk' }>,
): string[] {
  const bound = result.exhausted ? ' (the --max-runs bound)' : result.interrupted ? ' (interrupted)' : '';
  return [
    `Shrunk by picluster shrink from the run ${escapeControl(runDir)} of ${scenario.name}.`,
    `Fails as: ${result.kind}. ${result.eventsAfter} of ${result.eventsBefore} events, after ${result.runs} re-run${result.runs === 1 ? '' : 's'}${bound}.`,
    result.lastRunDir === undefined
      ? 'No smaller schedule failed the same way: these are the original events.'
      : `Its failing re-run: ${escapeControl(result.lastRunDir)}.`,
  ];
}
