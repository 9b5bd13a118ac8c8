import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterCore, LineWaiters, pollUntil } from '../../src/orchestrator/cluster-core';
import { checkRun } from '../../src/orchestrator/checker';
import { formatTable } from '../../src/orchestrator/report';
import { writeReports } from '../../src/orchestrator/report-files';
import { readRunDirectory, RunDirectory } from '../../src/orchestrator/run-directory';
import { RunError, type Backend } from '../../src/orchestrator/backend';
import { runScenario } from '../../src/orchestrator/runner';
import { loadScenario } from '../../src/orchestrator/scenario';
import type { Action, ScenarioEvent } from '../../src/orchestrator/types';

/** A cluster of no processes: each handler records the event; stopping records a warning. */
class FakeCluster extends ClusterCore<string> {
  readonly applied: string[] = [];
  stops = 0;

  constructor(runDir: RunDirectory) {
    super(runDir, { onMasterLine: () => undefined });
  }

  protected readonly handlers = Object.fromEntries(
    (
      ['disconnect', 'reconnect', 'kill', 'stop', 'start', 'restart', 'pause', 'unpause', 'master-restart'] as Action[]
    ).map((action) => [
      action,
      async (target: string): Promise<void> => {
        if (target === 'slave-9') throw new Error('no such container');
        this.applied.push(`${action} ${target}`);
      },
    ]),
  ) as Record<Action, (target: string) => Promise<void>>;

  protected targetOf(event: ScenarioEvent): string {
    return event.target;
  }

  protected describe(target: string): string {
    return `${target}: `;
  }

  protected async launch(): Promise<void> {
    await this.logs.open('master');
  }

  protected async stopNodes(): Promise<void> {
    this.stops += 1;
    await this.step('stop the master', () => Promise.reject(new Error('engine gone')));
  }

  /** Makes the master's log fail on its next write. */
  breakLog(): void {
    this.logs.get('master').destroy(new Error('disk full'));
  }
}

describe('the cluster core', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'picluster-core-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('dispatches an event to its action handler and names the event in a failure', async () => {
    const cluster = new FakeCluster(RunDirectory.at(dir));
    await cluster.start();
    await cluster.apply({ atMs: 0, action: 'pause', target: 'slave-1' });
    expect(cluster.applied).toEqual(['pause slave-1']);
    await expect(cluster.apply({ atMs: 0, action: 'kill', target: 'slave-9', line: 7 })).rejects.toMatchObject({
      code: 'PICLUSTER_ERR_FAULT_FAILED',
      message: 'kill slave-9 (line 7): slave-9: no such container',
    });
    await cluster.down();
  });

  it('runs down() once, keeps teardown troubles as warnings, then refuses faults', async () => {
    const cluster = new FakeCluster(RunDirectory.at(dir));
    await cluster.start();
    await Promise.all([cluster.down(), cluster.down()]);
    await cluster.down();
    expect(cluster.stops).toBe(1);
    expect(cluster.warnings).toEqual(['stop the master: engine gone']);
    await expect(cluster.apply({ atMs: 0, action: 'start', target: 'slave-1' })).rejects.toThrow(/shutting down/);
  });

  it('rejects down() with PICLUSTER_ERR_RUN_DIR after stopping everything when a node log was lost', async () => {
    const cluster = new FakeCluster(RunDirectory.at(dir));
    await cluster.start();
    cluster.breakLog();
    await expect(cluster.down()).rejects.toMatchObject({ code: 'PICLUSTER_ERR_RUN_DIR' });
    expect(cluster.stops).toBe(1);
  });

  it('refuses to start when a node log cannot be opened, and tears down what it started', async () => {
    const cluster = new FakeCluster(RunDirectory.at(join(dir, 'no-such-dir')));
    await expect(cluster.start()).rejects.toMatchObject({ code: 'PICLUSTER_ERR_RUN_DIR' });
    expect(cluster.stops).toBe(1);
  });
});

describe('LineWaiters', () => {
  it('settles a wait with the first matching line, once', async () => {
    const waiters = new LineWaiters();
    const wait = waiters.wait(
      (line) => line.event === 'listening',
      10_000,
      () => new Error('timed out'),
    );
    waiters.see({ event: 'message' });
    waiters.see({ event: 'listening', port: 1 });
    waiters.see({ event: 'listening', port: 2 });
    await expect(wait.line).resolves.toEqual({ event: 'listening', port: 1 });
  });

  it('rejects on timeout, on cancel and on rejectAll', async () => {
    const waiters = new LineWaiters();
    const timed = waiters.wait(
      () => false,
      1,
      () => new Error('no line'),
    );
    await expect(timed.line).rejects.toThrow('no line');
    const cancelled = waiters.wait(
      () => false,
      10_000,
      () => new Error('timed out'),
    );
    cancelled.cancel(new Error('exited'));
    await expect(cancelled.line).rejects.toThrow('exited');
    const pending = waiters.wait(
      () => false,
      10_000,
      () => new Error('timed out'),
    );
    waiters.rejectAll(new Error('shutting down'));
    await expect(pending.line).rejects.toThrow('shutting down');
  });
});

describe('pollUntil', () => {
  it('polls until found, stops when told, and says what it last saw on timeout', async () => {
    let n = 0;
    await expect(
      pollUntil('found', async () => (++n >= 3 ? n : undefined), { timeoutMs: 5000, intervalMs: 1 }),
    ).resolves.toBe(3);
    await expect(
      pollUntil('found', async () => undefined, { timeoutMs: 5000, intervalMs: 1, stopIf: () => 'gone' }),
    ).rejects.toThrow('gone');
    await expect(
      pollUntil('paused', async () => undefined, {
        timeoutMs: 0,
        intervalMs: 1,
        subject: 'slave-1 ',
        lastSeen: () => ' (state S)',
      }),
    ).rejects.toThrow('slave-1 not paused after 0 ms (state S)');
  });
});

describe('RunDirectory', () => {
  it('appends to a node log across opens, and writes the timeline and run.json where the checker reads them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-rundir-'));
    try {
      const runDir = RunDirectory.at(dir);
      for (const text of ['one\n', 'two\n']) {
        const file = await runDir.openNodeLog('slave-2', () => undefined);
        await new Promise<void>((resolve) => file.end(text, resolve));
      }
      expect(readFileSync(join(dir, 'slave-2.jsonl'), 'utf8')).toBe('one\ntwo\n');
      expect(runDir.nodeLogFile('master')).toBe(join(dir, 'master.jsonl'));
      expect(runDir.tokenFile).toBe(join(dir, 'secrets', 'cluster_token'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a report with warnings', () => {
  it('shows them before the verdict and keeps them in report.json; without any, nothing changes', async () => {
    const source = await readRunDirectory(join(__dirname, '..', 'fixtures', 'runs', 'clean'));
    const report = checkRun(source);
    const plain = formatTable(report);
    expect(plain).not.toMatch(/Warnings/);
    const warned = formatTable({ ...report, warnings: ['docker compose down: timed out'] });
    expect(warned).toContain(
      `\nWarnings from the ${report.backend} backend (not judged):\n  docker compose down: timed out\n`,
    );
    expect(warned.replace(/\nWarnings[^\n]*\n {2}docker compose down: timed out\n/, '')).toBe(plain);
    const dir = mkdtempSync(join(tmpdir(), 'picluster-report-'));
    try {
      await writeReports(dir, { ...report, warnings: ['w'] });
      expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')).warnings).toEqual(['w']);
      await writeReports(dir, report);
      expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'))).not.toHaveProperty('warnings');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('comes from run.json: `picluster check` on the run directory again reports the same warnings', async () => {
    const source = await readRunDirectory(join(__dirname, '..', 'fixtures', 'runs', 'clean'));
    const warned = checkRun({ ...source, info: { ...source.info, warnings: ['docker compose down: timed out'] } });
    expect(warned.warnings).toEqual(['docker compose down: timed out']);
    expect(warned.verdict).toBe(checkRun(source).verdict);
    expect(checkRun({ ...source, info: { ...source.info, warnings: [] } })).not.toHaveProperty('warnings');
  });
});

describe('a run whose teardown loses a node log', () => {
  it('still writes run.json, then fails with the teardown error', async () => {
    const scenario = {
      ...loadScenario(join(__dirname, '..', 'fixtures', 'scenarios', 'local-short.yaml')),
      slaves: 1,
      durationMs: 10,
      events: [],
    };
    const lost = new RunError('PICLUSTER_ERR_RUN_DIR', 'cannot write slave-1.jsonl: disk full');
    const backend: Backend = {
      name: 'local',
      refusal: () => Promise.resolve(undefined),
      up: async (_scenario, _runDir, sinks) => {
        sinks.onMasterLine({ timestamp: new Date().toISOString(), event: 'message', type: 'hello', node: 'n-1' });
        return {
          nodes: { 'slave-1': 'n-1' },
          warnings: [],
          apply: async () => undefined,
          down: () => Promise.reject(lost),
        };
      },
    };
    const out = mkdtempSync(join(tmpdir(), 'picluster-lost-log-'));
    try {
      await expect(runScenario(scenario, { backend, outDir: join(out, 'run'), progress: false })).rejects.toBe(lost);
      const info = JSON.parse(readFileSync(join(out, 'run', 'run.json'), 'utf8')) as Record<string, unknown>;
      expect(info).toMatchObject({ backend: 'local', nodes: { 'slave-1': 'n-1' } });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
