import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Docker from 'dockerode';
import { loadScenario } from '../../src/orchestrator';
import type { Backend } from '../../src/orchestrator/backend';
import { LocalBackend } from '../../src/orchestrator/local/local-backend';
import { RunDirectory } from '../../src/orchestrator/run-directory';
import { runScenario } from '../../src/orchestrator/runner';
import type { RunInfo, TimelineEntry } from '../../src/orchestrator/types';
import { CLI, runCli, SPAWN_TEST_TIMEOUT_MS } from '../helpers/cli';
import { readJsonLines } from '../helpers/json-lines';
import { expectScenarioPasses } from '../helpers/scenario-run';
import { pollUntil } from '../helpers/wait';

const ROOT = join(__dirname, '..', '..');
const SCENARIOS = join(ROOT, 'test', 'fixtures', 'scenarios');
const RUN_COMMAND_JS = join(ROOT, 'dist', 'cli', 'run-command.js');
/** The lone slaves' fault proxies' process. */
const PROXY_HOST = join(dirname(CLI), 'proxy-host.js');

// Every test here starts picluster processes, a scenario run several.
jest.setTimeout(SPAWN_TEST_TIMEOUT_MS);

let tmp: string;

beforeAll(() => {
  for (const file of [CLI, RUN_COMMAND_JS, PROXY_HOST]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run "npm run build" first (npm test does)`);
  }
});

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'picluster-run-'));
});

afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Processes whose parent is `ppid` and whose command line has `program` (default: `picluster` nodes), from /proc. */
function nodeProcessesOf(ppid: number, program = CLI): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (/^PPid:\s+(\d+)$/m.exec(status)?.[1] === String(ppid) && cmdline.includes(program)) pids.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);

/** `picluster run` flags for two scenarios side by side. */
const TWO_AT_ONCE = ['--jobs', '2', '--backend', 'local'];

const isMaster = (pid: number): boolean => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('\0master\0');

/** A scenario file of two slaves and no events, `duration` long, in this test's temp dir. */
function quietScenario(name: string, duration: string): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\nslaves: 2\nheartbeat_interval: 100ms\nduration: ${duration}\nevents: []\n`);
  return file;
}

const lines = (file: string): Array<Record<string, unknown>> => readJsonLines(file);

/** Runs `picluster run` (the command module of the build: main.ts may not list it yet) as a child process. */
function runCommand(
  args: string[],
  env: Record<string, string> = {},
): {
  child: ReturnType<typeof spawn>;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
} {
  const script = `require(${JSON.stringify(RUN_COMMAND_JS)}).runRun(process.argv.slice(1), process.env)
    .then((code) => { process.exitCode = code === 'help' ? 0 : code; })`;
  const child = spawn(process.execPath, ['-e', script, ...args], {
    cwd: tmp,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output.stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output.stderr += text));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, output, exited };
}

describe('picluster run, local backend', () => {
  it('runs kill, stop/start, pause/unpause, a long cut and a master restart, and the check passes', async () => {
    const scenario = loadScenario(join(SCENARIOS, 'local-faults.yaml'));
    const outDir = join(tmp, 'run');
    const result = await expectScenarioPasses(scenario, new LocalBackend({ cliPath: CLI }), outDir);

    expect(result.runDir).toBe(outDir);
    const files = readdirSync(outDir);
    for (const file of ['scenario.yaml', 'run.json', 'timeline.jsonl', 'master.jsonl', 'report.json', 'junit.xml']) {
      expect(files).toContain(file);
    }
    for (let n = 1; n <= scenario.slaves; n += 1) expect(files).toContain(`slave-${n}.jsonl`);

    const info = JSON.parse(readFileSync(join(outDir, 'run.json'), 'utf8')) as RunInfo;
    expect(info).toMatchObject({
      scenario: 'local-faults',
      backend: 'local',
      heartbeatIntervalMs: 200,
      heartbeatTimeoutMs: 600,
      durationMs: 9000,
      nodes: { 'slave-1': 'slave-1', 'slave-4': 'slave-4' },
    });
    expect(Date.parse(info.endedAt) - Date.parse(info.startedAt)).toBeGreaterThanOrEqual(9000);

    const timeline = lines(join(outDir, 'timeline.jsonl')) as unknown as TimelineEntry[];
    expect(timeline).toHaveLength(scenario.events.length);
    for (const entry of timeline) {
      expect(entry.error).toBeUndefined();
      // Requested, begun, confirmed: in that order.
      expect(Date.parse(entry.startedAt)).toBeGreaterThanOrEqual(Date.parse(entry.requestedAt!));
      expect(Date.parse(entry.confirmedAt!)).toBeGreaterThanOrEqual(Date.parse(entry.startedAt));
      // Scheduled from t0 (every hello logged), never before: the runner re-checks the wall clock.
      expect(Date.parse(entry.requestedAt!) - Date.parse(info.startedAt)).toBeGreaterThanOrEqual(entry.atMs);
    }

    // The master was restarted on the same port and its log holds both incarnations.
    const master = lines(join(outDir, 'master.jsonl'));
    const listening = master.filter((line) => line.event === 'listening');
    expect(listening).toHaveLength(2);
    expect(listening[1]!.port).toBe(listening[0]!.port);
    expect(master.at(-1)!.event).toBe('shutdown');
    // Both masters and every slave process ran with the run's token, and none was refused.
    expect(listening.map((line) => line.auth)).toEqual(['token', 'token']);
    for (let n = 1; n <= scenario.slaves; n += 1) {
      const starting = lines(join(outDir, `slave-${n}.jsonl`)).filter((line) => line.event === 'starting');
      expect(starting.map((line) => line.auth)).toEqual(starting.map(() => 'token'));
    }
    expect(master.filter((line) => line.reason === 'auth_failed')).toEqual([]);
    // A killed slave and a stopped one each have two incarnations.
    const starts = (name: string): number =>
      lines(join(outDir, `${name}.jsonl`)).filter((line) => line.event === 'starting').length;
    expect([starts('slave-1'), starts('slave-2'), starts('slave-3')]).toEqual([2, 2, 1]);
  });

  it('leaves no node process behind', async () => {
    const local = new LocalBackend({ cliPath: CLI });
    const seen = new Set<number>();
    const look = (): void =>
      [...nodeProcessesOf(process.pid), ...nodeProcessesOf(process.pid, PROXY_HOST)].forEach((pid) => seen.add(pid));
    // Looks for the node processes each time the cluster changes.
    const backend: Backend = {
      name: 'local',
      refusal: () => local.refusal(),
      async up(scenario, runDir, sinks) {
        const cluster = await local.up(scenario, runDir, sinks);
        look();
        return {
          nodes: cluster.nodes,
          apply: async (event) => {
            await cluster.apply(event);
            look();
          },
          down: () => cluster.down(),
          warnings: cluster.warnings,
        };
      },
    };
    const result = await runScenario(loadScenario(join(SCENARIOS, 'local-short.yaml')), {
      backend,
      outDir: join(tmp, 'run'),
      progress: false,
    });
    expect(result.complete).toBe(true);
    // The master, two slaves, slave-2 again after its restart, and the slaves' fault proxies.
    expect(seen.size).toBe(5);
    expect(nodeProcessesOf(process.pid, PROXY_HOST)).toEqual([]);
    expect([...seen].filter(alive)).toEqual([]);
    expect(nodeProcessesOf(process.pid)).toEqual([]);
  });

  it('stops every node on Ctrl-C, slaves first, and exits 130', async () => {
    const outDir = join(tmp, 'run');
    const run = runCommand([join(SCENARIOS, 'local-long.yaml'), '--out', outDir, '--backend', 'local']);
    const masterLog = join(outDir, 'master.jsonl');
    const helloCount = (): number =>
      existsSync(masterLog) ? readJsonLines(masterLog, { growing: true }).filter((l) => l.type === 'hello').length : 0;
    const pids = await pollUntil(
      () => {
        const found = nodeProcessesOf(run.child.pid!);
        return found.length === 3 && helloCount() >= 2 ? found : undefined;
      },
      30_000,
      () => `runner output: ${run.output.stderr}`,
    );
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(pids.filter(alive)).toEqual([]);
    expect(run.output.stderr).toContain('stopping the cluster');
    // The master stopped last and wrote its final line.
    const master = lines(masterLog);
    expect(master.at(-1)!.event).toBe('shutdown');
    expect(master.filter((line) => line.event === 'disconnect' && line.reason === 'shutdown')).toEqual([]);
    // The run says it was interrupted, and cannot be judged.
    const info = JSON.parse(readFileSync(join(outDir, 'run.json'), 'utf8')) as { interrupted?: { signal: string } };
    expect(info.interrupted?.signal).toBe('SIGINT');
    const check = await runCli(['check', outDir, '--no-write']);
    expect(check.stdout).toMatch(/^\s*run\s+interrupted\s.*the run was interrupted \(SIGINT\)/m);
    expect(check.stdout).toContain('VERDICT: INCONCLUSIVE — the run cannot be judged: interrupted');
    expect(check.code).toBe(2);
  });

  it('validates every scenario before anything starts', async () => {
    const broken = join(tmp, 'broken.yaml');
    writeFileSync(broken, 'slaves: 0\nduration: 1s\n');
    const run = runCommand([join(SCENARIOS, 'local-short.yaml'), broken, '--out', join(tmp, 'runs')]);
    expect(await run.exited).toBe(2);
    expect(run.output.stderr).toContain(broken);
    expect(run.output.stderr).toContain('nothing was run');
    expect(existsSync(join(tmp, 'runs'))).toBe(false);
  });

  it('stops a restarted master that never says it listens, and reports the restart as failed', async () => {
    // A stand-in for the CLI: slaves and the first master start normally; a master started
    // again stays alive and silent, like one too slow to listen.
    const fake = join(tmp, 'fake-cli.js');
    const marker = join(tmp, 'master-started-once');
    writeFileSync(
      fake,
      `const fs = require('fs');
const line = (fields) => process.stdout.write(JSON.stringify({ timestamp: new Date().toISOString(), level: 'info', message: '', ...fields }) + '\\n');
if (process.argv[2] === 'slave') line({ event: 'starting', node: process.argv[4] });
else if (!fs.existsSync(${JSON.stringify(marker)})) { fs.writeFileSync(${JSON.stringify(marker)}, ''); line({ event: 'listening', port: 1 }); }
setInterval(() => undefined, 1000);
`,
    );
    // The silent masters are given up after confirmTimeoutMs; so are the first master and the
    // slaves, which must not be given up just for starting slowly on a busy machine.
    const backend = new LocalBackend({
      cliPath: fake,
      proxyHostPath: PROXY_HOST,
      confirmTimeoutMs: 3000,
      stopGraceMs: 200,
    });
    const runDir = mkdtempSync(join(tmp, 'fake-'));
    const cluster = await backend.up(loadScenario(join(SCENARIOS, 'local-short.yaml')), RunDirectory.at(runDir), {
      onMasterLine: () => undefined,
    });
    try {
      await expect(cluster.apply({ atMs: 0, action: 'master-restart', target: 'master' })).rejects.toThrow(
        /did not start/,
      );
      // Only slaves are left: neither silent master goes on running unseen.
      expect(nodeProcessesOf(process.pid, fake)).toHaveLength(2);
    } finally {
      await cluster.down();
    }
    expect(nodeProcessesOf(process.pid, fake)).toEqual([]);
  });

  it('runs the master at nice -10, the slaves and their fault proxies at -5, autogroups too, where allowed; leaves the master record as master.jsonl', async () => {
    const backend = new LocalBackend({ cliPath: CLI });
    const runDir = mkdtempSync(join(tmp, 'nice-'));
    const runnerBefore = getPriority();
    const cluster = await backend.up(loadScenario(join(SCENARIOS, 'local-short.yaml')), RunDirectory.at(runDir), {
      onMasterLine: () => undefined,
    });
    let niceness: number[];
    let autogroups: Array<string | undefined>;
    // The fault proxies run in a process of their own: the runner's niceness is not the cluster's business.
    const runnerDuring = getPriority();
    try {
      const nodes = nodeProcessesOf(process.pid);
      const ordered = [
        ...nodes.filter(isMaster),
        ...nodes.filter((pid) => !isMaster(pid)),
        ...nodeProcessesOf(process.pid, PROXY_HOST),
      ];
      // Field 19 of /proc/<pid>/stat, counted after the parenthesised command name.
      niceness = ordered.map((pid) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
      // "/autogroup-123 nice -10" where the kernel groups sessions (each node is one), else nothing.
      const autogroupOf = (pid: number): string | undefined => {
        const file = `/proc/${pid}/autogroup`;
        return existsSync(file) ? readFileSync(file, 'utf8').split(' nice ')[1]?.trim() : undefined;
      };
      autogroups = ordered.map(autogroupOf);
    } finally {
      await cluster.down();
    }
    // The master, two slaves, the fault proxies.
    expect(niceness).toHaveLength(4);
    expect(runnerDuring).toBe(runnerBefore);
    if (process.getuid?.() === 0) {
      expect(niceness).toEqual([-10, -5, -5, -5]);
      if (autogroups[0] !== undefined) expect(autogroups).toEqual(['-10', '-5', '-5', '-5']);
      expect(cluster.warnings).toEqual([]);
    } else {
      // Lowering a niceness takes privileges: the run goes on, and says so, once for the slaves.
      expect(niceness).toEqual([0, 0, 0, 0]);
      expect(cluster.warnings).toEqual([
        expect.stringMatching(/^the master not given nice -10/),
        expect.stringMatching(/^the fault proxies not given nice -5/),
        expect.stringMatching(/^slave processes not given nice -5/),
      ]);
    }
    expect(getPriority()).toBe(runnerBefore);
    const record = readFileSync(join(runDir, 'master-log-file.jsonl'), 'utf8');
    expect(record).toMatch(/"event":"shutdown"/);
    expect(readFileSync(join(runDir, 'master.jsonl'), 'utf8')).toBe(record);
  });

  it('cannot judge a run whose fault proxies died: down() says so, and leaves nothing running', async () => {
    const backend = new LocalBackend({ cliPath: CLI });
    const cluster = await backend.up(
      loadScenario(join(SCENARIOS, 'local-short.yaml')),
      RunDirectory.at(mkdtempSync(join(tmp, 'proxies-'))),
      { onMasterLine: () => undefined },
    );
    const [proxies] = nodeProcessesOf(process.pid, PROXY_HOST);
    process.kill(proxies!, 'SIGKILL');
    await expect(cluster.apply({ atMs: 0, action: 'disconnect', target: 'slave-1' })).rejects.toThrow(
      "the fault proxies' process exited (SIGKILL)",
    );
    await expect(cluster.down()).rejects.toMatchObject({
      code: 'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
      message: "the lone slaves' links went during the run: the fault proxies' process exited (SIGKILL)",
    });
    expect(nodeProcessesOf(process.pid)).toEqual([]);
  });

  it('runs scenarios side by side with --jobs 2, each with a master of its own, and prints every table', async () => {
    const outDir = join(tmp, 'runs');
    const run = runCommand([
      quietScenario('jobs-a', '8s'),
      quietScenario('jobs-b', '8s'),
      ...TWO_AT_ONCE,
      '--out',
      outDir,
    ]);
    await pollUntil(
      () => (nodeProcessesOf(run.child.pid!).filter(isMaster).length === 2 ? true : undefined),
      30_000,
      () => `never two masters at once, as runs one after the other have; stderr: ${run.output.stderr}`,
    );
    expect(await run.exited).toBe(0);
    expect(run.output.stdout.match(/VERDICT: PASS/g)).toHaveLength(2);
    for (const name of ['jobs-a', 'jobs-b']) expect(existsSync(join(outDir, name, 'report.json'))).toBe(true);
  });

  it('with --jobs, exits with the worst of the runs, after every one of them', async () => {
    const outDir = join(tmp, 'runs');
    // A run directory that is not empty is refused when its run begins: that run cannot be carried out (2).
    mkdirSync(join(outDir, 'taken'), { recursive: true });
    writeFileSync(join(outDir, 'taken', 'keep.txt'), 'not a run\n');
    const run = runCommand([
      quietScenario('taken', '3s'),
      quietScenario('good', '3s'),
      ...TWO_AT_ONCE,
      '--out',
      outDir,
    ]);
    expect(await run.exited).toBe(2);
    expect(run.output.stderr).toContain('picluster run: taken: ');
    expect(run.output.stdout.match(/VERDICT: PASS/g)).toHaveLength(1);
    expect(existsSync(join(outDir, 'good', 'report.json'))).toBe(true);
  });

  it('stops every run on Ctrl-C with --jobs 2 and exits 130, nothing left running', async () => {
    const run = runCommand([
      join(SCENARIOS, 'local-long.yaml'),
      join(SCENARIOS, 'local-faults.yaml'),
      ...TWO_AT_ONCE,
      '--out',
      join(tmp, 'runs'),
    ]);
    await pollUntil(
      () => (nodeProcessesOf(run.child.pid!).filter(isMaster).length === 2 ? true : undefined),
      30_000,
      () => `never two masters at once; stderr: ${run.output.stderr}`,
    );
    const pids = [...nodeProcessesOf(run.child.pid!), ...nodeProcessesOf(run.child.pid!, PROXY_HOST)];
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(pids.filter(alive)).toEqual([]);
  });

  it('runs one scenario at a time on the docker backend, saying so, whatever --jobs asks', async () => {
    const run = runCommand([join(SCENARIOS, 'local-short.yaml'), '--jobs', '3', '--backend', 'docker'], {
      PICLUSTER_IMAGE: 'picluster:no-such-image',
      ...(process.env.DOCKER_HOST === undefined ? {} : { DOCKER_HOST: process.env.DOCKER_HOST }),
    });
    expect(await run.exited).toBe(2);
    expect(run.output.stderr).toContain('picluster run: --jobs 3: the docker backend runs one scenario at a time');
  });

  it('says the run could not be carried out when the docker backend has no image (exit 2)', async () => {
    const run = runCommand([join(SCENARIOS, 'local-short.yaml'), '--backend', 'docker'], {
      PICLUSTER_IMAGE: 'picluster:no-such-image',
      // The engine this test asks below, whichever it is.
      ...(process.env.DOCKER_HOST === undefined ? {} : { DOCKER_HOST: process.env.DOCKER_HOST }),
    });
    expect(await run.exited).toBe(2);
    // With an engine: the image it does not have; without one: that no engine answers, and how to start one.
    const engine = await new Docker().ping().then(
      () => true,
      () => false,
    );
    expect(run.output.stderr).toContain(engine ? 'picluster:no-such-image' : 'no Docker engine answers');
  });
});
