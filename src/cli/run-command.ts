import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PiclusterError } from '../common';
import {
  DEFAULT_DOCKER_IMAGE,
  DockerBackend,
  LocalBackend,
  ScenarioError,
  SwarmBackend,
  formatTable,
  loadScenario,
  runScenario,
  type Backend,
  type RunOptions,
  type Scenario,
} from '../orchestrator';
import { defineCommand, parseCommand, UsageError } from './flags';
import { SEED_FLAGS } from './generate-command';
import { EXIT_INTERRUPTED, MAX_RUNS_FLAGS, shrinkAndReport } from './shrink-report';

export type BackendChoice = 'local' | 'docker' | 'swarm' | 'auto';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['local', 'docker', 'swarm', 'auto'];

/** Most scenarios `--jobs` runs at once. */
export const MAX_JOBS = 16;

export const RUN_COMMAND = defineCommand({
  name: 'run',
  usage:
    'picluster run <scenario.yaml>... [--backend local|docker|swarm|auto] [--out DIR] [--jobs N] [--seed N] [--shrink [--max-runs N]]',
  summary:
    "Run fault scenarios on a live cluster, one after another (or --jobs at once), then check the master's log against each.",
  flags: [
    {
      flag: 'backend',
      env: 'PICLUSTER_BACKEND',
      kind: 'choice',
      choices: BACKEND_CHOICES,
      description:
        'Where the nodes run: child processes on loopback (local), containers from compose.yaml (docker), a stack from compose.yaml on the swarm this engine manages, all tasks on its node (swarm), or docker when an engine answers and has the image (auto)',
      defaultText: 'auto',
    },
    {
      flag: 'out',
      env: 'PICLUSTER_RUN_DIR',
      kind: 'string',
      valueName: 'dir',
      description: 'Run directory, new or empty; with several scenarios, DIR/<scenario name> for each',
      defaultText: 'runs/<yyyymmdd-hhmmss>-<scenario name>',
    },
    {
      flag: 'jobs',
      env: 'PICLUSTER_JOBS',
      kind: 'integer',
      min: 1,
      max: MAX_JOBS,
      valueName: 'n',
      description:
        'Scenarios run at once on the local backend, each with a master and slaves of its own; the docker and swarm backends run one at a time',
      defaultText: '1',
    },
    ...SEED_FLAGS,
    {
      flag: 'shrink',
      kind: 'boolean',
      description: 'When a run fails its check, shrink it right after, as "picluster shrink <run-dir>" does',
    },
    ...MAX_RUNS_FLAGS,
  ],
  notes: [
    'Every scenario file is validated before anything starts. Each run directory holds scenario.yaml, run.json,',
    "timeline.jsonl, master.jsonl, slave-N.jsonl and the checker's reports; each report's table goes to stdout,",
    'progress to stderr. Exits 0 when every run passes, 1 when one fails its check, 2 when one could not be',
    'carried out or judged (a node that would not start, a fault not confirmed) or a scenario is invalid, 130',
    'on Ctrl-C, which stops every node first; run.json then records the interruption, and "picluster check"',
    'on that directory exits 2. For a scenario with generate:, run.json records the seed and every event run.',
    "With --shrink, a failed run is shrunk at once into <run-dir>/shrunk.yaml; the exit code stays the run's.",
  ].join('\n'),
});

/** Whether a Docker engine answers (`docker info` exits 0). */
function dockerEngineAnswers(): boolean {
  const result = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    stdio: 'ignore',
    timeout: 15_000,
  });
  return result.status === 0;
}

/** Whether the image the docker backend runs is in the engine's store. */
function imagePresent(image: string): boolean {
  return spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore', timeout: 15_000 }).status === 0;
}

/** The backend `choice` names; `auto` picks docker when an engine answers and has the image, local otherwise. */
export function pickBackend(choice: BackendChoice, env: NodeJS.ProcessEnv, command = 'picluster run'): Backend {
  if (choice === 'local') return new LocalBackend();
  const image = env.PICLUSTER_IMAGE || DEFAULT_DOCKER_IMAGE;
  if (choice === 'docker') return new DockerBackend({ image });
  if (choice === 'swarm') return new SwarmBackend({ image });
  if (!dockerEngineAnswers()) {
    process.stderr.write(`${command}: no Docker engine answers: using the local backend\n`);
    return new LocalBackend();
  }
  if (!imagePresent(image)) {
    process.stderr.write(
      `${command}: a Docker engine answers but has no ${image} image (scripts/build-images.sh builds it): using the local backend\n`,
    );
    return new LocalBackend();
  }
  process.stderr.write(`${command}: a Docker engine answers and has ${image}: using the docker backend\n`);
  return new DockerBackend({ image });
}

/** Loads every file; prints every problem of every invalid one. Undefined when any is invalid. */
function loadAll(files: readonly string[], seed: number | undefined): Scenario[] | undefined {
  const scenarios: Scenario[] = [];
  let invalid = 0;
  for (const file of files) {
    try {
      scenarios.push(loadScenario(file, seed === undefined ? {} : { seed }));
    } catch (err) {
      if (!(err instanceof ScenarioError)) throw err;
      invalid += 1;
      process.stderr.write(err.errors.map((line) => `${line}\n`).join(''));
    }
  }
  if (invalid > 0) {
    process.stderr.write(`picluster run: ${invalid} of ${files.length} scenario files invalid; nothing was run\n`);
    return undefined;
  }
  return scenarios;
}

/**
 * Ctrl-C (or SIGTERM, SIGHUP) aborts the run in progress, which stops every node
 * before the runner returns; a second one exits at once.
 */
export function interruptOnSignals(controller: AbortController, command = 'picluster run'): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
    process.stderr.write(`\n${command}: ${signal}: stopping the cluster (again to quit at once)\n`);
    // The reason names the signal: run.json records it as the run's interruption.
    controller.abort(signal);
    // docker compose and docker stack run in their own process groups, out of reach of this signal: remove their projects and stacks now.
    void DockerBackend.cleanupAll();
    void SwarmBackend.cleanupAll();
  };
  // SIGHUP too: a closed terminal would kill the runner and leave its nodes (own process groups) running.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}

export async function runRun(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | 'help'> {
  const { values, positionals, help } = parseCommand(RUN_COMMAND, argv, env, true);
  if (help) return 'help';
  if (positionals.length === 0) {
    throw new UsageError('argv', 'no scenario file given; usage: picluster run <scenario.yaml>...');
  }
  const out = values.out;
  const scenarios = loadAll(positionals, values.seed);
  if (scenarios === undefined) return 2;
  if (out !== undefined && scenarios.length > 1) {
    const names = scenarios.map((scenario) => scenario.name);
    const twice = names.find((name, index) => names.indexOf(name) !== index);
    if (twice !== undefined) {
      process.stderr.write(`picluster run: two scenarios are named ${twice}: they would share ${join(out, twice)}\n`);
      return 2;
    }
  }
  const backend = pickBackend(values.backend ?? 'auto', env);

  const asked = values.jobs ?? 1;
  const jobs = backend.name === 'local' ? asked : 1;
  if (asked > jobs) {
    process.stderr.write(`picluster run: --jobs ${asked}: the ${backend.name} backend runs one scenario at a time\n`);
  }
  const controller = new AbortController();
  const release = interruptOnSignals(controller);
  // Stops the other runs when one fails unexpectedly, without counting as the user's first Ctrl-C.
  const failed = new AbortController();
  const signal = AbortSignal.any([controller.signal, failed.signal]);
  const runOne = (scenario: Scenario): Promise<number> =>
    runAndReport(scenario, {
      backend,
      outDir: out === undefined ? undefined : scenarios.length > 1 ? join(out, scenario.name) : out,
      signal,
      // Live progress lines of runs side by side would overwrite each other: each writes one final line.
      progress: jobs > 1 ? { write: (text: string) => process.stderr.write(text) } : process.stderr,
      shrink: values.shrink === true ? { maxRuns: values['max-runs'] } : undefined,
    });
  try {
    const codes = await atMostAtOnce(scenarios, jobs, runOne, signal, failed);
    // A Ctrl-C while a run was being checked let it finish, and kept the rest from starting.
    if (controller.signal.aborted || codes.includes(EXIT_INTERRUPTED)) return EXIT_INTERRUPTED;
    return Math.max(0, ...codes);
  } finally {
    release();
  }
}

/**
 * Runs `work` on every item, at most `jobs` at once, starting them in order;
 * none starts once `signal` is aborted. An unexpected error aborts `failed`
 * (so the others stop their nodes), and is thrown once all have settled.
 */
async function atMostAtOnce<T>(
  items: readonly T[],
  jobs: number,
  work: (item: T) => Promise<number>,
  signal: AbortSignal,
  failed: AbortController,
): Promise<number[]> {
  const codes: number[] = [];
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (next < items.length && !signal.aborted) {
      const index = next++;
      try {
        codes[index] = await work(items[index]!);
      } catch (err) {
        failure ??= { err };
        failed.abort(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, lane));
  if (failure !== undefined) throw failure.err;
  return codes;
}

/**
 * Runs one scenario, prints its table, and shrinks it when it failed and
 * `shrink` is asked for; resolves with its exit code (EXIT_INTERRUPTED on
 * Ctrl-C).
 */
async function runAndReport(
  scenario: Scenario,
  options: RunOptions & { shrink: { maxRuns: number | undefined } | undefined },
): Promise<number> {
  const { shrink, ...runOptions } = options;
  try {
    const result = await runScenario(scenario, runOptions);
    // One write: the tables of runs side by side do not interleave.
    process.stdout.write(`${formatTable(result.report)}run directory: ${result.runDir}\n`);
    const code =
      !result.complete || result.report.verdict === 'inconclusive' ? 2 : result.report.verdict === 'fail' ? 1 : 0;
    if (shrink !== undefined && code === 1) {
      const shrunk = await shrinkAndReport({
        runDir: result.runDir,
        backend: options.backend,
        signal: options.signal,
        command: 'picluster run --shrink',
        stdout: process.stdout,
        stderr: process.stderr,
        ...(shrink.maxRuns === undefined ? {} : { maxRuns: shrink.maxRuns }),
      });
      if (shrunk === EXIT_INTERRUPTED) return EXIT_INTERRUPTED;
    }
    return code;
  } catch (err) {
    if (!(err instanceof PiclusterError)) throw err;
    if (err.code === 'PICLUSTER_ERR_RUN_ABORTED') return EXIT_INTERRUPTED;
    process.stderr.write(`picluster run: ${scenario.name}: ${err.message}\n`);
    return 2;
  }
}
