import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { ContainerLog, ROOT, runOnce, sh } from '../helpers/docker';
import { parseJsonLine, type LogLine } from '../helpers/json-lines';
import { scrape } from '../helpers/metrics-text';
import { waitUntil } from '../helpers/wait';

jest.setTimeout(900_000);

const docker = new Docker();
const IMAGE = process.env.E2E_IMAGE ?? 'picluster:e2e';
const PROJECT = `picluster-e2e-${process.pid}`;
const VERSION = (JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string }).version;
// The token the README has a new user make (scripts/make-token.sh), here outside the repository.
const secretDir = mkdtempSync(join(tmpdir(), 'picluster-e2e-secret-'));
const composeEnv = {
  PICLUSTER_IMAGE: IMAGE,
  SLAVES: '3',
  HEARTBEAT_INTERVAL_MS: '300',
  CLUSTER_TOKEN_SECRET_FILE: join(secretDir, 'secrets', 'cluster_token'),
  // The metrics port published on a free loopback port: tests run beside other clusters.
  METRICS_HOST_PORT: '0',
};
const compose = (...args: string[]): Promise<string> => sh('docker', ['compose', '-p', PROJECT, ...args], composeEnv);

async function projectContainers(service: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${PROJECT}`, `com.docker.compose.service=${service}`] },
  });
}

/** The loopback address and port Compose published the master's metrics port on. */
async function metricsAddress(): Promise<{ host: string; port: number }> {
  const published = (await compose('port', 'master', '9464')).trim();
  const match = /^(.*):(\d+)$/.exec(published);
  if (match === null) throw new Error(`docker compose port master 9464 said ${JSON.stringify(published)}`);
  return { host: match[1]!, port: Number(match[2]) };
}

/**
 * `curl localhost:<port>/metrics` on the running cluster agrees with the master's log: the lines
 * that cannot change any more exactly, the heartbeats that keep coming between the lines logged
 * before the scrape began and those logged by the time it answered.
 */
async function expectMetricsAgreeWithLog(log: ContainerLog): Promise<void> {
  const { host, port } = await metricsAddress();
  expect(host).toBe('127.0.0.1');
  const before = Date.now();
  const metrics = await scrape(port, host);
  const after = Date.now();
  // The log is in order: once a line stamped after the scrape is read, every line before it is too.
  await log.waitFor((l) => Date.parse(l.timestamp as string) > after);
  const stamped = (l: LogLine): number => Date.parse(l.timestamp as string);
  const heartbeats = log.lines.filter((l) => l.event === 'message' && l.type === 'heartbeat');
  const received = metrics.value('picluster_master_messages_received_total', { type: 'heartbeat' });
  expect(received).toBeGreaterThanOrEqual(heartbeats.filter((l) => stamped(l) < before).length);
  expect(received).toBeLessThanOrEqual(heartbeats.filter((l) => stamped(l) <= after).length);
  expect(received).toBeGreaterThanOrEqual(9);
  const count = (event: string): number => log.lines.filter((l) => l.event === event).length;
  expect(metrics.value('picluster_master_messages_received_total', { type: 'hello' })).toBe(
    log.lines.filter((l) => l.event === 'message' && l.type === 'hello').length,
  );
  expect(metrics.value('picluster_master_connections_accepted_total')).toBe(count('connect'));
  expect(metrics.value('picluster_master_connections_open')).toBe(count('connect') - count('disconnect'));
  expect(metrics.value('picluster_master_disconnects_total', { reason: 'closed' })).toBe(0);
  expect(metrics.byLabel('picluster_build_info', 'version')).toEqual({ [VERSION]: 1 });
}

describe('images and compose (real Docker)', () => {
  beforeAll(async () => {
    // On the base made from packages unless OFFLINE_BASE=0 says a registry can be
    // reached: this project's machines have none, and a pull would only fail.
    await sh('scripts/build-images.sh', [], { IMAGE, OFFLINE_BASE: process.env.OFFLINE_BASE ?? '1' }, 1_200_000);
    await sh('scripts/make-token.sh', [], composeEnv);
  });

  afterAll(async () => {
    await compose('down', '--timeout', '5', '--remove-orphans', '--volumes').catch(() => undefined);
    rmSync(secretDir, { recursive: true, force: true });
  });

  it('built one image for linux/amd64 and linux/arm64 that runs picluster on each (arm64 under emulation)', async () => {
    for (const [platform, arch] of [
      ['linux/amd64', 'x64'],
      ['linux/arm64', 'arm64'],
    ] as const) {
      expect(await runOnce(docker, IMAGE, platform, ['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n` });
      const probe = await runOnce(docker, IMAGE, platform, ['-p', 'process.arch + " " + process.getuid()'], ['node']);
      expect(probe).toEqual({ code: 0, stdout: `${arch} 1000\n` });
    }
  });

  it("runs the compose cluster: the master logs hello and heartbeats from 3 distinct slaves, and a stopped slave's disconnect", async () => {
    await compose('up', '--detach', '--no-build');
    const [masterInfo] = await projectContainers('master');
    expect(masterInfo).toBeDefined();
    const master = docker.getContainer(masterInfo!.Id);
    const log = await ContainerLog.follow(docker, master);
    try {
      const slaves = (await projectContainers('slave')).map((info) => info.Names[0]!.replace(/^\//, '')).sort();
      expect(slaves).toEqual([1, 2, 3].map((n) => `${PROJECT}-slave-${n}`));
      // The master reads the token from the secret and takes the slaves, which prove it.
      expect(await log.waitFor((l) => l.event === 'listening')).toMatchObject({ auth: 'token' });
      for (const node of slaves) {
        await log.waitFor((l) => l.event === 'message' && l.node === node && l.type === 'hello');
        await log.waitFor(
          (l) => l.event === 'message' && l.node === node && l.type === 'heartbeat' && (l.seq as number) >= 3,
        );
      }

      expect(log.lines.filter((l) => l.event === 'disconnect')).toEqual([]);
      await expectMetricsAgreeWithLog(log);
      const token = readFileSync(composeEnv.CLUSTER_TOKEN_SECRET_FILE, 'utf8').trim();
      expect(token).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(log.lines)).not.toContain(token);

      const victim = slaves[1]!;
      const container = docker.getContainer(victim);
      await container.stop({ t: 10 });
      const state = (await container.inspect()).State;
      // 0, not 137: the slave handled SIGTERM as PID 1 instead of waiting to be killed.
      expect(state.ExitCode).toBe(0);
      const disconnect = await log.waitFor((l) => l.event === 'disconnect' && l.node === victim);
      expect(disconnect).toMatchObject({ reason: 'closed', message: 'Client disconnected' });

      await master.stop({ t: 10 });
      expect((await master.inspect()).State.ExitCode).toBe(0);
      const shutdown = await log.waitFor((l) => l.event === 'shutdown');
      expect(shutdown.connections).toBe(2);
      expect(log.lines.filter((l) => l.event === 'disconnect' && l.reason === 'shutdown')).toHaveLength(2);
      expect((await master.inspect()).Config.User).toBe('node');

      // Started again, the master reads its LOG_FILE back from the volume: the last seq of every slave.
      await compose('start', 'master');
      let lines: Array<LogLine | undefined> = [];
      const recoveredAt = (): number => lines.findIndex((line) => line?.event === 'recovered');
      // A slave's hello after the recovery: the new master, with the token from the secret, took it.
      const rejoined = (): boolean =>
        recoveredAt() >= 0 && lines.slice(recoveredAt()).some((l) => l?.event === 'message' && l.type === 'hello');
      await waitUntil(
        async () => {
          // Compose may lead each line with a terminal control sequence.
          lines = (await compose('logs', '--no-log-prefix', 'master'))
            .split('\n')
            .map((line) => parseJsonLine(line.slice(line.indexOf('{'))));
          return rejoined();
        },
        60_000,
        () =>
          `the master's last lines:\n${lines
            .slice(-10)
            .map((line) => JSON.stringify(line))
            .join('\n')}`,
        500,
      );
      expect(lines[recoveredAt()]).toMatchObject({ nodes: 3, unreadable: 0 });
      expect(rejoined()).toBe(true);
      // Not one connection of either master was refused for want of the token.
      expect(lines.filter((l) => l?.reason === 'auth_failed')).toEqual([]);
    } finally {
      log.close();
    }
  });
});
