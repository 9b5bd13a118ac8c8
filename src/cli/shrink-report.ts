/**
 * Shrinking a failed run and saying what came of it: shared by
 * `picluster shrink` and `picluster run --shrink`.
 */
import { escapeControl } from '../common';
import {
  DEFAULT_SHRINK_MAX_RUNS,
  MAX_SHRINK_MAX_RUNS,
  shrinkRunDirectory,
  type Backend,
  type ShrinkRunResult,
} from '../orchestrator';
import { defineFlags } from './flags';

/** `--max-runs`, shared by `picluster shrink` and `picluster run`. */
export const MAX_RUNS_FLAGS = defineFlags([
  {
    flag: 'max-runs',
    env: 'PICLUSTER_SHRINK_MAX_RUNS',
    kind: 'integer',
    min: 0,
    max: MAX_SHRINK_MAX_RUNS,
    valueName: 'n',
    description:
      'Most re-runs a shrink makes (each takes as long as the scenario); 0 writes the failing schedule as it is',
    defaultText: String(DEFAULT_SHRINK_MAX_RUNS),
  },
]);

/** Exit code after Ctrl-C (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

/** What to shrink and how. */
export interface ShrinkRequest {
  runDir: string;
  backend: Backend;
  maxRuns?: number;
  out?: string;
  signal?: AbortSignal;
  /** Names the command in messages: `picluster shrink`. */
  command: string;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** The one-line summary of a shrink that wrote a scenario. */
export function shrinkSummary(result: Extract<ShrinkRunResult, { status: 'shrunk' }>): string {
  const stop = result.interrupted ? ', interrupted' : result.exhausted ? ', stopped at --max-runs' : '';
  return (
    `shrunk to ${result.eventsAfter} of ${result.eventsBefore} events, failing as ${result.kind}, ` +
    `after ${plural(result.runs, 're-run')}${stop}: wrote ${escapeControl(result.file)}`
  );
}

/**
 * Shrinks the run in `request.runDir`, printing a line per re-run on stderr
 * and the summary on stdout. Returns the exit code: 0 a scenario was written,
 * 1 the run passed, 2 it cannot be judged, 130 interrupted (the smallest
 * failing schedule found until then is written).
 */
export async function shrinkAndReport(request: ShrinkRequest): Promise<number> {
  const { command, stdout, stderr } = request;
  const maxRuns = request.maxRuns ?? DEFAULT_SHRINK_MAX_RUNS;
  const result = await shrinkRunDirectory({
    runDir: request.runDir,
    backend: request.backend,
    maxRuns,
    ...(request.out === undefined ? {} : { out: request.out }),
    ...(request.signal === undefined ? {} : { signal: request.signal }),
    // A live line per re-run on a terminal; elsewhere the line per re-run below is enough.
    progress: (stderr as NodeJS.WriteStream).isTTY === true ? (stderr as NodeJS.WriteStream) : false,
    onRun: (run, dir) => {
      const outcome = run.verdict.failed ? `fail (${run.verdict.kind})` : run.verdict.kind;
      const kept = run.kept ? `kept, ${escapeControl(dir)}` : 'not kept';
      stderr.write(
        `${command}: re-run ${run.run}/${maxRuns} (${run.phase}): ${plural(run.events.length, 'event')}: ${outcome}: ${kept}\n`,
      );
    },
  });
  const dir = escapeControl(request.runDir);
  switch (result.status) {
    case 'passed':
      stderr.write(`${command}: ${dir}: the run passed its check: nothing to shrink\n`);
      return 1;
    case 'inconclusive': {
      const why = result.report.interrupted !== undefined ? 'it was interrupted' : 'its check is inconclusive';
      stderr.write(`${command}: ${dir}: the run cannot be judged (${why}): nothing to shrink\n`);
      return 2;
    }
    case 'shrunk':
      stdout.write(`${shrinkSummary(result)}\n`);
      return result.interrupted ? EXIT_INTERRUPTED : 0;
  }
}
