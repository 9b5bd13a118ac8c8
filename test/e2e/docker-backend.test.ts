import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import type { Scenario } from '../../src/orchestrator';
import type { MasterLogLine } from '../../src/orchestrator/backend';
import {
  COMPOSE_PROJECT_LABEL,
  ContainerLogFollower,
  DockerBackend,
  type DockerCluster,
} from '../../src/orchestrator/docker';
import { RunDirectory } from '../../src/orchestrator/run-directory';
import type { Action } from '../../src/orchestrator/types';
import { DOCKER_PROJECT_PREFIX, loadScenario } from '../../src/orchestrator';
import { ROOT, sh, withoutFrameHeaders } from '../helpers/docker';
import { readJsonLines } from '../helpers/json-lines';
import { LogLines } from '../helpers/log-lines';
import { expectScenarioPasses } from '../helpers/scenario-run';
import { pollUntil, waitUntil } from '../helpers/wait';

jest.setTimeout(300_000);

const docker = new Docker();
const IMAGE = process.env.E2E_IMAGE ?? 'picluster:e2e';

const scenario: Scenario = {
  name: 'docker-backend-e2e',
  file: 'test/e2e/docker-backend.test.ts',
  slaves: 3,
  heartbeatIntervalMs: 300,
  heartbeatTimeoutMs: 1000,
  durationMs: 60_000,
  events: [],
};

/** A container's stdout lines as Docker holds them. */
async function dockerStdout(id: string): Promise<string[]> {
  const raw = await docker.getContainer(id).logs({ follow: false, stdout: true, stderr: false });
  return withoutFrameHeaders(raw)
    .split('\n')
    .filter((line) => line !== '');
}

/** A file's lines as text, for comparing with what Docker holds. */
function fileLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '');
}

async function projectResources(project: string): Promise<{ containers: number; networks: number; volumes: number }> {
  const filters = { label: [`${COMPOSE_PROJECT_LABEL}=${project}`] };
  const containers = await docker.listContainers({ all: true, filters });
  const networks = await docker.listNetworks({ filters });
  const volumes = (await docker.listVolumes({ filters })).Volumes ?? [];
  return { containers: containers.length, networks: networks.length, volumes: volumes.length };
}

describe('DockerBackend (real Docker)', () => {
  let runDir: string;
  let cluster: DockerCluster | undefined;

  beforeAll(async () => {
    runDir = mkdtempSync(join(tmpdir(), 'picluster-docker-backend-'));
    // Always built: an image left by an earlier checkout would test old code. The build
    // cache makes this quick when compose.test.ts has just built the same sources.
    await sh('scripts/build-images.sh', [], { IMAGE, OFFLINE_BASE: process.env.OFFLINE_BASE ?? '1' }, 1_200_000);
  });

  afterAll(async () => {
    await cluster?.down();
    rmSync(runDir, { recursive: true, force: true });
  });

  it('refuses a missing image with PICLUSTER_ERR_IMAGE_MISSING, naming it, and starts nothing', async () => {
    const backend = new DockerBackend({ image: 'picluster:no-such-tag' });
    const up = backend.up(scenario, RunDirectory.at(mkdtempSync(join(runDir, 'missing-'))), {
      onMasterLine: () => undefined,
    });
    await expect(up).rejects.toMatchObject({ code: 'PICLUSTER_ERR_IMAGE_MISSING' });
    await expect(up).rejects.toThrow(/picluster:no-such-tag.*build-images\.sh/);
    expect(DockerBackend.liveProjects()).toEqual([]);
  });

  it('runs a cluster from compose.yaml, confirms every fault through the Docker API, logs every line once, and leaves nothing behind', async () => {
    const masterLog = new LogLines<MasterLogLine>(20_000);
    const { lines } = masterLog;
    const backend = new DockerBackend({ image: IMAGE });
    const startedAt = Date.now();
    cluster = await backend.up(scenario, RunDirectory.at(runDir), { onMasterLine: (line) => masterLog.add(line) });
    const upMs = Date.now() - startedAt;
    const { project } = cluster;
    expect(project).toMatch(/^picluster-run-[0-9a-f]{8}$/);
    expect(DockerBackend.liveProjects()).toContain(project);
    expect(cluster.nodes).toEqual({
      'slave-1': `${project}-slave-1`,
      'slave-2': `${project}-slave-2`,
      'slave-3': `${project}-slave-3`,
    });
    const node = (slave: string): string => cluster!.nodes[slave]!;
    const container = (slave: string): Docker.Container => docker.getContainer(node(slave));
    const state = async (slave: string): Promise<Docker.ContainerInspectInfo['State']> =>
      (await container(slave).inspect()).State;
    const apply = (action: Action, target: string): Promise<void> => cluster!.apply({ atMs: 0, action, target });

    /** The first master line from index `from` on that matches. */
    const masterLine = (from: number, match: (line: MasterLogLine) => boolean) =>
      masterLog.waitFor(match, 20_000, from);
    const hello = (from: number, slave: string) =>
      masterLine(from, (l) => l.event === 'message' && l.type === 'hello' && l.node === node(slave));
    /** A new process numbers from 1 again: its first heartbeat after `from` has seq 1. */
    const numbersFromOne = (from: number, slave: string) =>
      masterLine(from, (l) => l.event === 'message' && l.type === 'heartbeat' && l.node === node(slave) && l.seq === 1);
    const disconnect = (from: number, slave: string) =>
      masterLine(from, (l) => l.event === 'disconnect' && l.node === node(slave));

    for (const slave of ['slave-1', 'slave-2', 'slave-3']) await hello(0, slave);
    const timings: Record<string, number> = { up: upMs };
    const timed = async (what: string, action: () => Promise<void>): Promise<void> => {
      const t = Date.now();
      await action();
      timings[what] = Date.now() - t;
    };

    // kill -> start: SIGKILL (137); the kernel closes the socket, so the master sees a FIN.
    let mark = lines.length;
    await timed('kill', () => apply('kill', 'slave-1'));
    expect(await state('slave-1')).toMatchObject({ Running: false, ExitCode: 137 });
    await disconnect(mark, 'slave-1');
    mark = lines.length;
    await timed('start', () => apply('start', 'slave-1'));
    expect((await state('slave-1')).Running).toBe(true);
    await hello(mark, 'slave-1');
    await numbersFromOne(mark, 'slave-1');

    // stop -> start: SIGTERM, handled by the slave (exit 0, FIN: reason closed).
    mark = lines.length;
    await timed('stop', () => apply('stop', 'slave-2'));
    expect(await state('slave-2')).toMatchObject({ Running: false, ExitCode: 0 });
    expect(await disconnect(mark, 'slave-2')).toMatchObject({ reason: 'closed' });
    mark = lines.length;
    await apply('start', 'slave-2');
    await hello(mark, 'slave-2');

    // restart: a new process (seq from 1 again) and a new StartedAt.
    const before = (await state('slave-3')).StartedAt;
    mark = lines.length;
    await timed('restart', () => apply('restart', 'slave-3'));
    const restarted = await state('slave-3');
    expect(restarted.Running).toBe(true);
    expect(restarted.StartedAt).not.toBe(before);
    expect(await disconnect(mark, 'slave-3')).toMatchObject({ reason: 'closed' });
    await hello(mark, 'slave-3');
    await numbersFromOne(mark, 'slave-3');

    // pause -> unpause: the frozen slave goes silent and the master times it out.
    mark = lines.length;
    await timed('pause', () => apply('pause', 'slave-1'));
    expect((await state('slave-1')).Paused).toBe(true);
    expect(await disconnect(mark, 'slave-1')).toMatchObject({ reason: 'timeout' });
    mark = lines.length;
    await timed('unpause', () => apply('unpause', 'slave-1'));
    expect(await state('slave-1')).toMatchObject({ Running: true, Paused: false });
    await hello(mark, 'slave-1');

    // disconnect -> reconnect, a cut of 2.6 s: timeout on the master's side, and the same aliases afterwards.
    const network = `${project}_default`;
    const aliasesBefore = (await container('slave-2').inspect()).NetworkSettings.Networks[network]?.Aliases;
    expect(aliasesBefore).toEqual(expect.arrayContaining([node('slave-2'), 'slave']));
    mark = lines.length;
    const cutAt = Date.now();
    await timed('disconnect', () => apply('disconnect', 'slave-2'));
    expect((await container('slave-2').inspect()).NetworkSettings.Networks[network]).toBeUndefined();
    expect(await disconnect(mark, 'slave-2')).toMatchObject({ reason: 'timeout' });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, cutAt + 2600 - Date.now())));
    mark = lines.length;
    await timed('reconnect', () => apply('reconnect', 'slave-2'));
    const endpoint = (await container('slave-2').inspect()).NetworkSettings.Networks[network];
    expect([...(endpoint?.Aliases ?? [])].sort()).toEqual([...aliasesBefore!].sort());
    await hello(mark, 'slave-2');

    // master-restart: confirmed by a second `listening`; every slave comes back.
    mark = lines.length;
    await timed('master-restart', () => apply('master-restart', 'master'));
    expect(lines.filter((l) => l.event === 'listening')).toHaveLength(2);
    expect(lines.slice(mark).find((l) => l.event === 'shutdown')).toMatchObject({ signal: 'SIGTERM' });
    for (const slave of ['slave-1', 'slave-2', 'slave-3']) await hello(mark, slave);

    // A fault that cannot be carried out is refused with its code.
    await expect(apply('kill', 'slave-9')).rejects.toMatchObject({ code: 'PICLUSTER_ERR_FAULT_FAILED' });

    // What Docker holds now must be, line for line, the start of each run-directory file after down().
    const masterId = (
      await docker.listContainers({
        all: true,
        filters: { label: [`${COMPOSE_PROJECT_LABEL}=${project}`, 'com.docker.compose.service=master'] },
      })
    )[0]!.Id;
    const held: Record<string, string[]> = { master: await dockerStdout(masterId) };
    for (const slave of ['slave-1', 'slave-2', 'slave-3']) held[slave] = await dockerStdout(node(slave));

    await timed('down', () => cluster!.down());
    await cluster.down();
    expect(await projectResources(project)).toEqual({ containers: 0, networks: 0, volumes: 0 });
    expect(DockerBackend.liveProjects()).not.toContain(project);
    expect(cluster.warnings).toEqual([]);

    for (const name of ['master', 'slave-1', 'slave-2', 'slave-3']) {
      const written = fileLines(join(runDir, `${name}.jsonl`));
      expect(written.slice(0, held[name]!.length)).toEqual(held[name]);
      // Every line carries a ms timestamp and (slaves) a seq or (master) a conn: none is legitimately repeated.
      expect(new Set(written).size).toBe(written.length);
      for (const line of written) expect(() => JSON.parse(line)).not.toThrow();
    }
    const master = readJsonLines<MasterLogLine>(join(runDir, 'master.jsonl'));
    expect(master.filter((l) => l.event === 'listening')).toHaveLength(2);
    expect(master.filter((l) => l.event === 'shutdown')).toHaveLength(2);
    expect(master.filter((l) => l.event === 'disconnect' && l.reason === 'timeout').map((l) => l.node)).toEqual([
      node('slave-1'),
      node('slave-2'),
    ]);
    // The parsed lines handed to the sink are the file's lines.
    expect(lines).toEqual(master);
    const slave1 = readJsonLines(join(runDir, 'slave-1.jsonl'));
    expect(slave1.filter((l) => l.event === 'starting')).toHaveLength(2);
    expect(slave1.at(-1)?.event).toBe('stopped');
    process.stdout.write(`docker backend timings (ms): ${JSON.stringify(timings)}\n`);
  });
  it('ContainerLogFollower: re-following every 25 ms and across a stop and start loses and doubles no line', async () => {
    const project = `picluster-e2e-follower-${process.pid}`;
    const script =
      'let i = 0; const t = setInterval(() => { for (let k = 0; k < 4; k++) console.log(JSON.stringify({ i: i++ }));' +
      ' if (i >= 2000) clearInterval(t); }, 2);';
    const container = await docker.createContainer({
      Image: IMAGE,
      Entrypoint: ['node'],
      Cmd: ['-e', script],
      Labels: { [COMPOSE_PROJECT_LABEL]: project },
    });
    try {
      const seen: string[] = [];
      const follower = new ContainerLogFollower(container, 'counter', (raw) => seen.push(raw));
      let refollows = 0;
      for (let round = 0; round < 2; round++) {
        await container.start();
        await follower.follow();
        const exited = container.wait();
        let running = true;
        void exited.then(() => (running = false));
        while (running) {
          await new Promise((resolve) => setTimeout(resolve, 25));
          await follower.follow();
          refollows += 1;
        }
        await follower.settled(5000);
        expect(follower.following).toBe(false);
      }
      await follower.catchUp();
      follower.close();
      const expected = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ i }));
      expect(refollows).toBeGreaterThan(10);
      expect(seen).toEqual([...expected, ...expected]);
      expect(follower.errors).toEqual([]);
    } finally {
      await container.remove({ force: true });
    }
  });

  it('cleanupAll() (the Ctrl-C hook) takes down a cluster with a paused and a cut slave', async () => {
    const dir = mkdtempSync(join(runDir, 'cleanup-'));
    const masterLog = new LogLines<MasterLogLine>(20_000);
    const started = await new DockerBackend({ image: IMAGE }).up({ ...scenario, slaves: 2 }, RunDirectory.at(dir), {
      onMasterLine: (line) => masterLog.add(line),
    });
    // As the runner does: faults only once every slave said hello. A slave paused while Node.js is still
    // starting has no SIGTERM handler yet, and as PID 1 it ignores the signal: it would take the SIGKILL.
    for (const node of Object.values(started.nodes)) await masterLog.waitForEvent('message', { type: 'hello', node });
    await started.apply({ atMs: 0, action: 'pause', target: 'slave-1' });
    await started.apply({ atMs: 0, action: 'disconnect', target: 'slave-2' });
    const t = Date.now();
    await DockerBackend.cleanupAll();
    const cleanupMs = Date.now() - t;
    expect(await projectResources(started.project)).toEqual({ containers: 0, networks: 0, volumes: 0 });
    expect(DockerBackend.liveProjects()).toEqual([]);
    expect(started.warnings).toEqual([]);
    const master = readJsonLines<MasterLogLine>(join(dir, 'master.jsonl'));
    expect(master.at(-1)).toMatchObject({ event: 'shutdown', signal: 'SIGTERM' });
    // Thawed before the stop, the paused slave handled SIGTERM itself.
    const slave1 = readJsonLines(join(dir, 'slave-1.jsonl'));
    expect(slave1.at(-1)?.event).toBe('stopped');
    process.stdout.write(`cleanupAll of a paused and a cut slave: ${cleanupMs} ms\n`);
  });

  it('cleanupAll() during up() stops docker compose, makes up() reject, and removes what was created', async () => {
    const up = new DockerBackend({ image: IMAGE }).up(scenario, RunDirectory.at(mkdtempSync(join(runDir, 'abort-'))), {
      onMasterLine: () => undefined,
    });
    up.catch(() => undefined);
    const project = await pollUntil(() => DockerBackend.liveProjects()[0], 10_000, 'no live project yet', 50);
    // Compose has created the master and waits for its health check: the middle of up().
    await waitUntil(
      async () => (await projectResources(project)).containers > 0,
      20_000,
      'no container of the project yet',
      50,
    );
    await DockerBackend.cleanupAll();
    await expect(up).rejects.toMatchObject({ code: 'PICLUSTER_ERR_RUN_ABORTED' });
    expect(await projectResources(project)).toEqual({ containers: 0, networks: 0, volumes: 0 });
    expect(DockerBackend.liveProjects()).toEqual([]);
  });

  it('runs a scenario end to end through the runner: every action confirmed, verdict PASS', async () => {
    const scenario = loadScenario(join(ROOT, 'test', 'fixtures', 'scenarios', 'local-faults.yaml'));
    const result = await expectScenarioPasses(scenario, new DockerBackend({ image: IMAGE }), join(runDir, 'runner'));
    expect(result.info.backend).toBe('docker');
    // The containers' names, from Docker's DNS: <project>-slave-N.
    for (let n = 1; n <= scenario.slaves; n++) {
      expect(result.info.nodes[`slave-${n}`]).toMatch(new RegExp(`^${DOCKER_PROJECT_PREFIX}.+-slave-${n}$`));
    }
  }, 180_000);
});
