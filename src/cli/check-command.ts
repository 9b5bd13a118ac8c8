import { escapeControl } from '../common';
import {
  RunDirectoryError,
  checkRun,
  formatTable,
  openRunDirectory,
  writeReports,
  type CheckReport,
  type Verdict,
} from '../orchestrator';
import { defineCommand, oneRunDirectory, parseCommand } from './flags';

/** Exit code per verdict: 0 pass, 1 fail, 2 the run cannot be judged. */
export const CHECK_EXIT_CODES: Readonly<Record<Verdict, number>> = { pass: 0, fail: 1, inconclusive: 2 };

export const CHECK_COMMAND = defineCommand({
  name: 'check',
  usage: 'picluster check <run-dir> [options]',
  summary: "Check a recorded run: did the master log every message and every disconnect the run's faults called for?",
  flags: [
    {
      flag: 'no-write',
      kind: 'boolean',
      description: 'Only print the table; do not write report.json and junit.xml into the run directory',
    },
  ],
  notes: [
    'Ground truth is the slaves\' "sent" lines and the timeline, never what the master claims.',
    'Exit codes: 0 pass, 1 fail, 2 the run cannot be judged (an interrupted run, an unreadable or malformed',
    'run directory, a fault the runner could not confirm, or one confirmed too late to judge its timing)',
    'or a usage error.',
  ].join('\n'),
});

export async function runCheck(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number | 'help'> {
  const { values, positionals, help } = parseCommand(CHECK_COMMAND, argv, env, true);
  if (help) return 'help';
  const dir = oneRunDirectory(CHECK_COMMAND, positionals);
  let report: CheckReport;
  try {
    // Streamed: a soak run's logs may be far larger than memory.
    report = checkRun(await openRunDirectory(dir));
  } catch (error) {
    if (error instanceof RunDirectoryError) {
      err.write(`picluster check: cannot check ${escapeControl(`${dir}: ${error.message}`)} (${error.code})\n`);
      return CHECK_EXIT_CODES.inconclusive;
    }
    throw error;
  }
  out.write(formatTable(report));
  if (!values['no-write']) {
    try {
      const files = await writeReports(dir, report);
      out.write(`Wrote ${files.join(', ')}\n`);
    } catch (error) {
      err.write(`picluster check: cannot write reports into ${escapeControl(`${dir}: ${(error as Error).message}`)}\n`);
      return CHECK_EXIT_CODES.inconclusive;
    }
  }
  return CHECK_EXIT_CODES[report.verdict];
}
