import { openRunDirectory } from '../orchestrator';
import { defineCommand, oneRunDirectory, parseCommand } from './flags';
import { BACKEND_CHOICES, interruptOnSignals, pickBackend } from './run-command';
import { MAX_RUNS_FLAGS, shrinkAndReport } from './shrink-report';

export const SHRINK_COMMAND = defineCommand({
  name: 'shrink',
  usage: 'picluster shrink <run-dir> [--max-runs N] [--out FILE] [--backend local|docker|swarm|auto]',
  summary: 'Re-run a failed run with fewer events and earlier times, and write the smallest scenario that still fails.',
  flags: [
    ...MAX_RUNS_FLAGS,
    {
      flag: 'out',
      kind: 'string',
      valueName: 'file',
      description: 'Where to write the shrunk scenario',
      defaultText: '<run-dir>/shrunk.yaml',
    },
    {
      flag: 'backend',
      kind: 'choice',
      choices: BACKEND_CHOICES,
      description: 'Where the re-runs run (see "picluster run --help")',
      defaultText: "the run's own, from run.json",
    },
  ],
  notes: [
    "Delta debugging over the run's events (run.json's, or scenario.yaml's with the run's seed): faults with",
    'their endings first, then single events, then each event moved earlier. A change is kept only when the',
    're-run fails with the same failure kind: the same set of failure kinds in its check. Candidates the',
    'scenario validator refuses are skipped without a run. Re-runs go to <run-dir>/shrink/run-NNN; those that',
    'did not fail the same way are removed, so the last one left ran the shrunk scenario. The shrunk scenario',
    'starts with comment lines naming the run, the failure kind and the re-runs used; "picluster validate"',
    'accepts it and "picluster run" runs it.',
    'Exit codes: 0 a scenario was written, 1 the run passed (nothing to shrink), 2 the run cannot be judged',
    '(interrupted, inconclusive), an unreadable run directory or a usage error, 130 on Ctrl-C (the smallest',
    'failing scenario found until then is written).',
  ].join('\n'),
});

export async function runShrink(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | 'help'> {
  const { values, positionals, help } = parseCommand(SHRINK_COMMAND, argv, env, true);
  if (help) return 'help';
  const runDir = oneRunDirectory(SHRINK_COMMAND, positionals);
  // run.json first: a directory that is no run is refused before any backend is looked for.
  const { info } = await openRunDirectory(runDir);
  const backend = pickBackend(values.backend ?? info.backend, env, 'picluster shrink');
  const controller = new AbortController();
  const release = interruptOnSignals(controller, 'picluster shrink');
  try {
    return await shrinkAndReport({
      runDir,
      backend,
      signal: controller.signal,
      command: 'picluster shrink',
      stdout: process.stdout,
      stderr: process.stderr,
      ...(values['max-runs'] === undefined ? {} : { maxRuns: values['max-runs'] }),
      ...(values.out === undefined ? {} : { out: values.out }),
    });
  } finally {
    release();
  }
}
