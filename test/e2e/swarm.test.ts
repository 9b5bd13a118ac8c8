import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { SWARM_STACK_PREFIX, SwarmBackend, loadScenario, removeStackResources } from '../../src/orchestrator';
import { STACK_NAMESPACE_LABEL } from '../../src/orchestrator/swarm';
import { ContainerLog, ROOT, joinSwarm, sh, type SwarmSession } from '../helpers/docker';
import { readJsonLines, type LogLine } from '../helpers/json-lines';
import { expectScenarioPasses } from '../helpers/scenario-run';
import { pollUntil } from '../helpers/wait';

jest.setTimeout(300_000);

const docker = new Docker();
const IMAGE = process.env.E2E_IMAGE ?? 'picluster:e2e';
const STACK = `picluster-e2e-${process.pid}`;

/** The JSON lines of a node's log in a run directory. */
function logLines(runDir: string, name: string): LogLine[] {
  return readJsonLines(join(runDir, `${name}.jsonl`), { nonJson: 'skip' });
}

/**
 * After the run's master restart: each slave's connection attempts that began
 * once the new master logged `listening` and failed, and how long after that
 * line the new master logged the slave's hello.
 */
function afterMasterRestart(
  runDir: string,
  nodes: Record<string, string>,
): Array<{ name: string; failed: string[]; helloAfterListeningMs: number | undefined }> {
  const master = logLines(runDir, 'master');
  const listening = Date.parse(master.filter((l) => l.event === 'listening')[1]?.timestamp ?? '');
  if (Number.isNaN(listening)) throw new Error('no second listening line in master.jsonl');
  return Object.entries(nodes).map(([name, node]) => {
    const failed: string[] = [];
    let attemptAt = -Infinity;
    for (const line of logLines(runDir, name)) {
      if (line.event === 'connecting') attemptAt = Date.parse(line.timestamp);
      if (line.event === 'disconnected' && attemptAt >= listening) failed.push(String(line.reason));
    }
    const hello = master.find(
      (l) => l.event === 'message' && l.type === 'hello' && l.node === node && Date.parse(l.timestamp) > listening,
    );
    return { name, failed, helloAfterListeningMs: hello && Date.parse(hello.timestamp) - listening };
  });
}

/** Services, containers, networks and volumes whose stack label starts with `prefix`. */
async function stackResources(prefix: string): Promise<string[]> {
  const ofStack = (labels: Record<string, string> | undefined): boolean =>
    (labels?.[STACK_NAMESPACE_LABEL] ?? '').startsWith(prefix);
  const services = (await docker.listServices()) as Array<{
    Spec?: { Name?: string; Labels?: Record<string, string> };
  }>;
  const containers = await docker.listContainers({ all: true });
  const networks = await docker.listNetworks();
  const volumes = (await docker.listVolumes()).Volumes ?? [];
  return [
    ...services.filter((s) => ofStack(s.Spec?.Labels)).map((s) => `service ${s.Spec?.Name}`),
    ...containers.filter((c) => ofStack(c.Labels)).map((c) => `container ${c.Names[0]}`),
    ...networks.filter((n) => ofStack(n.Labels)).map((n) => `network ${n.Name}`),
    ...volumes.filter((v) => ofStack(v.Labels ?? undefined)).map((v) => `volume ${v.Name}`),
  ];
}

describe('Docker Swarm: compose.yaml as a stack, and a scenario on the swarm backend (real Docker)', () => {
  let swarm: SwarmSession | undefined;
  let runDir: string;
  const tokenFile = (): string => join(runDir, 'secrets', 'cluster_token');

  beforeAll(async () => {
    runDir = mkdtempSync(join(tmpdir(), 'picluster-swarm-'));
    // Always built, as in the other e2e tests: an image left by an earlier checkout would test old code.
    await sh('scripts/build-images.sh', [], { IMAGE, OFFLINE_BASE: process.env.OFFLINE_BASE ?? '1' }, 1_200_000);
    swarm = await joinSwarm(docker);
    // compose.yaml's secret, made as the README has a user make it, here in the test's directory.
    await sh('scripts/make-token.sh', [], { CLUSTER_TOKEN_SECRET_FILE: tokenFile() });
  });

  afterAll(async () => {
    // Also after a failure: the stack, whatever the backend left, then the swarm if this test made it.
    await sh('docker', ['stack', 'rm', STACK]).catch(() => undefined);
    await removeStackResources(STACK, docker);
    await SwarmBackend.cleanupAll();
    await swarm?.leave();
    rmSync(runDir, { recursive: true, force: true });
  });

  it('deploys compose.yaml unchanged with docker stack deploy: the master logs a hello from 3 slaves, each with its own id', async () => {
    // By id, so that Swarm does not try to pull the image (there is no registry).
    const imageId = (await docker.getImage(IMAGE).inspect()).Id;
    await sh(
      'docker',
      ['stack', 'deploy', '--resolve-image', 'never', '--detach=true', '--compose-file', 'compose.yaml', STACK],
      { PICLUSTER_IMAGE: imageId, SLAVES: '3', HEARTBEAT_INTERVAL_MS: '300', CLUSTER_TOKEN_SECRET_FILE: tokenFile() },
    );
    const masterInfo = await pollUntil(
      async () =>
        (
          await docker.listContainers({
            filters: { label: [`${STACK_NAMESPACE_LABEL}=${STACK}`, `com.docker.swarm.service.name=${STACK}_master`] },
          })
        )[0],
      120_000,
      'no running master task yet',
      50,
    );
    const log = await ContainerLog.follow(docker, docker.getContainer(masterInfo.Id));
    try {
      const slaves = [1, 2, 3].map((n) => `${STACK}_slave-${n}`);
      for (const node of slaves) {
        await log.waitFor((l) => l.event === 'message' && l.node === node && l.type === 'hello', 120_000);
      }
      await log.waitFor(
        (l) => l.event === 'message' && l.node === slaves[2] && l.type === 'heartbeat' && (l.seq as number) >= 3,
      );
      const named = new Set(log.lines.filter((l) => l.event === 'message').map((l) => l.node));
      expect([...named].sort()).toEqual(slaves);
      // The master took the token from the secret, and every slave proved it.
      expect(log.lines.find((l) => l.event === 'listening')).toMatchObject({ auth: 'token' });
      expect(log.lines.filter((l) => l.event === 'disconnect' && l.reason === 'auth_failed')).toEqual([]);
    } finally {
      log.close();
    }
    await sh('docker', ['stack', 'rm', STACK]);
    expect((await removeStackResources(STACK, docker)).errors).toEqual([]);
    expect(await stackResources(STACK)).toEqual([]);
  });

  it('runs a scenario with every kind of fault but restart on the swarm backend: verdict PASS, nothing left', async () => {
    const scenario = loadScenario(join(ROOT, 'test', 'fixtures', 'scenarios', 'local-faults.yaml'));
    const result = await expectScenarioPasses(scenario, new SwarmBackend({ image: IMAGE }), join(runDir, 'run'));
    expect(result.info.backend).toBe('swarm');
    // The new master's name resolves once it listens (no health check holds it out of Swarm's DNS):
    // no attempt begun after its `listening` line fails to find it.
    const restart = afterMasterRestart(result.runDir, result.info.nodes);
    process.stdout.write(
      `swarm master restart, hello after the new master's listening: ${restart
        .map((r) => `${r.name} ${r.helloAfterListeningMs ?? '-'} ms`)
        .join(', ')}\n`,
    );
    expect(restart.filter((r) => r.failed.includes('ENOTFOUND'))).toEqual([]);
    for (let n = 1; n <= scenario.slaves; n++) {
      expect(result.info.nodes[`slave-${n}`]).toMatch(new RegExp(`^${SWARM_STACK_PREFIX}[0-9a-f]{8}_slave-${n}$`));
    }
    // This run's stack, not every run's: the engine may be running others.
    const runStack = result.info.nodes['slave-1']!.split('_')[0]!;
    expect(await stackResources(runStack)).toEqual([]);
  }, 180_000);
});
