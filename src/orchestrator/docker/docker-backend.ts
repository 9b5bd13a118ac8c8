import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { ExitGuard, checkInteger } from '../../common';
import {
  faultFailed,
  heartbeatTimeoutOf,
  parseLogLine,
  reconnectMaxDelayOf,
  RunError,
  type Backend,
  type BackendSinks,
  type MasterLogLine,
  type StartedCluster,
} from '../backend';
import type { Action, Scenario, ScenarioEvent } from '../types';
import {
  COMPOSE_PROJECT_LABEL,
  ComposeCommandError,
  ComposeProject,
  removeRunResources,
  removeRunResourcesSync,
} from './compose';
import { ContainerLogFollower, containerOutputTail } from './log-follower';

/** The image both services run when neither the options nor `PICLUSTER_IMAGE` name one. */
export const DEFAULT_DOCKER_IMAGE = 'picluster:latest';

/** The project's `compose.yaml`: `{src,dist}/orchestrator/docker` -> the repository root. */
export const DEFAULT_COMPOSE_FILE = join(__dirname, '..', '..', '..', 'compose.yaml');

/** Every run gets its own Compose project: this prefix and 8 random hex digits. */
export const DOCKER_PROJECT_PREFIX = 'picluster-run-';

/** Grace between SIGTERM and SIGKILL for `stop`, `restart`, `master-restart` and `down()`, in seconds. */
export const DEFAULT_DOCKER_STOP_TIMEOUT_S = 5;

/** Longest wait for a fault to show in the container's state (or the master's `listening` line), in ms. */
export const DEFAULT_DOCKER_CONFIRM_TIMEOUT_MS = 15_000;

/** Longest a `docker compose up`/`stop`/`down` may take, in ms. */
export const DEFAULT_DOCKER_COMPOSE_TIMEOUT_MS = 180_000;

/** How often a fault's confirmation polls the container's state, in ms. */
const CONFIRM_POLL_MS = 50;

/** How long `down()` waits for each followed log stream to end once its container stopped, in ms. */
const LOG_SETTLE_MS = 3000;

const SERVICE_LABEL = 'com.docker.compose.service';
const NUMBER_LABEL = 'com.docker.compose.container-number';
const NETWORK_LABEL = 'com.docker.compose.network';

export interface DockerBackendOptions {
  /** The image of both services. Default: `PICLUSTER_IMAGE`, else {@link DEFAULT_DOCKER_IMAGE}. */
  image: string;
  /** The Compose file that defines the cluster. Default {@link DEFAULT_COMPOSE_FILE}. */
  composeFile: string;
  /** The Docker API client. Default: `new Docker()` (`DOCKER_HOST` or the local socket, as the `docker` CLI). */
  docker: Docker;
  /** SIGTERM -> SIGKILL grace of `stop`, `restart`, `master-restart` and `down()`, in s (0 to 60). Default 5. */
  stopTimeoutS: number;
  /** Longest wait for a fault's confirmation, in ms (100 to 300000). Default 15000. */
  confirmTimeoutMs: number;
  /** Longest a `docker compose` command may take, in ms (1000 to 3600000). Default 180000. */
  composeTimeoutMs: number;
}

/** Fills in the defaults of {@link DockerBackendOptions} and checks the ranges. */
export function resolveDockerBackendOptions(options: Partial<DockerBackendOptions> = {}): DockerBackendOptions {
  const image = options.image ?? (process.env.PICLUSTER_IMAGE || DEFAULT_DOCKER_IMAGE);
  return {
    image,
    composeFile: options.composeFile ?? DEFAULT_COMPOSE_FILE,
    docker: options.docker ?? new Docker(),
    stopTimeoutS: checkInteger('stopTimeoutS', options.stopTimeoutS ?? DEFAULT_DOCKER_STOP_TIMEOUT_S, 0, 60),
    confirmTimeoutMs: checkInteger(
      'confirmTimeoutMs',
      options.confirmTimeoutMs ?? DEFAULT_DOCKER_CONFIRM_TIMEOUT_MS,
      100,
      300_000,
    ),
    composeTimeoutMs: checkInteger(
      'composeTimeoutMs',
      options.composeTimeoutMs ?? DEFAULT_DOCKER_COMPOSE_TIMEOUT_MS,
      1000,
      3_600_000,
    ),
  };
}

/**
 * Every cluster of this process that is starting or running: what
 * {@link DockerBackend.cleanupAll} takes down, and, should the process end
 * without `down()`, what is removed on exit with the `docker` CLI.
 */
const liveClusters = new ExitGuard<DockerCluster>((cluster) => cluster.removeSync());

/**
 * Runs the cluster as containers from the project's `compose.yaml`, under a
 * Compose project of its own per run (`picluster-run-<hex>`), and injects
 * faults through the Docker API: network cuts, signals, pause, restarts.
 * Each slave's node id is its container name (`<project>-slave-3`), which it
 * learns by reverse DNS.
 */
export class DockerBackend implements Backend {
  readonly name = 'docker' as const;
  readonly options: DockerBackendOptions;

  constructor(options: Partial<DockerBackendOptions> = {}) {
    this.options = resolveDockerBackendOptions(options);
  }

  async up(scenario: Scenario, runDir: string, sinks: BackendSinks): Promise<DockerCluster> {
    const cluster = new DockerCluster(this.options, scenario, runDir, sinks);
    try {
      await cluster.start();
    } catch (err) {
      await cluster.down();
      if (err instanceof RunError) throw err;
      throw new RunError('PICLUSTER_ERR_NODE_START', `${cluster.project}: ${(err as Error).message}`, { cause: err });
    }
    return cluster;
  }

  /**
   * Takes down every cluster this process started and has not taken down yet,
   * also one still starting (its `docker compose up` is stopped first). For a
   * signal handler; never rejects.
   */
  static async cleanupAll(): Promise<void> {
    await Promise.all(liveClusters.items.map((cluster) => cluster.down()));
  }

  /** The Compose projects of this process's clusters that are starting or running. */
  static liveProjects(): string[] {
    return liveClusters.items.map((cluster) => cluster.project);
  }
}

/** A container of the cluster: the master or one slave. */
interface NodeContainer {
  /** `master` or `slave-N`. */
  readonly name: string;
  readonly id: string;
  /** The container's name, which is also a slave's node id. */
  readonly containerName: string;
  readonly container: Docker.Container;
  readonly follower: ContainerLogFollower;
}

interface LineWaiter {
  match: (line: MasterLogLine) => boolean;
  resolve: (line: MasterLogLine) => void;
  reject: (err: Error) => void;
}

/** A running cluster of one Compose project. Returned by {@link DockerBackend.up}. */
export class DockerCluster implements StartedCluster {
  readonly nodes: Record<string, string> = {};
  /** The Compose project: every container and network of the run carries `com.docker.compose.project=<project>`. */
  readonly project: string;
  /** What went wrong while following logs or tearing down: `down()` never rejects, so it is recorded here. */
  readonly warnings: string[] = [];
  private readonly docker: Docker;
  private readonly compose: ComposeProject;
  private readonly files = new Map<string, WriteStream>();
  private readonly containers = new Map<string, NodeContainer>();
  private readonly waiters = new Set<LineWaiter>();
  /** Endpoint aliases of each slave whose network is cut, to reconnect it as it was. */
  private readonly cutAliases = new Map<string, string[]>();
  private networkName = '';
  private composeStarted = false;
  private closing = false;
  private downing: Promise<void> | undefined;

  constructor(
    private readonly options: DockerBackendOptions,
    private readonly scenario: Scenario,
    private readonly runDir: string,
    private readonly sinks: BackendSinks,
  ) {
    this.docker = options.docker;
    this.project = `${DOCKER_PROJECT_PREFIX}${randomBytes(4).toString('hex')}`;
    this.compose = new ComposeProject(this.project, options.composeFile, {
      PICLUSTER_IMAGE: options.image,
      SLAVES: String(scenario.slaves),
      HEARTBEAT_INTERVAL_MS: String(scenario.heartbeatIntervalMs),
      HEARTBEAT_TIMEOUT_MS: String(heartbeatTimeoutOf(scenario)),
      RECONNECT_MAX_DELAY_MS: String(reconnectMaxDelayOf(scenario)),
      // The log is parsed: a LOG_FORMAT=text in the caller's environment must not reach the nodes.
      LOG_FORMAT: 'json',
    });
  }

  /** Brings the project up and starts following every container's log. Called by {@link DockerBackend.up}, which cleans up on failure. */
  async start(): Promise<void> {
    // Tracked from the start: a cleanupAll() during the checks must stop the `up` that would follow them.
    liveClusters.hold(this);
    await this.checkEngineAndImage();
    const names = ['master', ...Array.from({ length: this.scenario.slaves }, (_, index) => `slave-${index + 1}`)];
    await Promise.all(names.map((name) => this.openFile(name)));
    this.throwIfClosing();
    this.composeStarted = true;
    let upFailure: unknown;
    try {
      await this.compose.run(['up', '--detach', '--no-build', '--pull', 'never'], this.options.composeTimeoutMs);
    } catch (err) {
      upFailure = err;
    }
    this.throwIfClosing();
    // Even after a failed `up`, whatever containers exist are followed, so their lines reach the run directory.
    const listed = await this.listContainers();
    if (upFailure !== undefined) throw await this.upFailed(upFailure);
    this.checkContainers(listed);
    this.networkName = await this.findNetwork();
    this.throwIfClosing();
    await Promise.all([...this.containers.values()].map((node) => node.follower.follow()));
  }

  async apply(event: ScenarioEvent): Promise<void> {
    if (this.closing) throw faultFailed(event, 'the cluster is shutting down');
    const node = this.containers.get(event.target);
    if (node === undefined) throw faultFailed(event, `no node named ${event.target} in this cluster`);
    if (event.action === 'master-restart' && node.name !== 'master') {
      throw faultFailed(event, `master-restart applies to the master, not to ${event.target}`);
    }
    try {
      await this.carryOut(event.action, node);
    } catch (err) {
      if (err instanceof RunError) throw err;
      throw faultFailed(event, `${node.containerName}: ${(err as Error).message}`, err);
    }
  }

  /**
   * `docker compose stop` (the slaves, then the master: each writes its last
   * lines), reads every log to its end, `docker compose down`, removes by label
   * whatever is left, and closes the log files. Idempotent; never rejects.
   */
  down(): Promise<void> {
    this.downing ??= this.teardown();
    return this.downing;
  }

  /** For a process `exit` handler: kills Compose commands in flight, removes the project's resources synchronously. */
  removeSync(): void {
    if (!this.composeStarted) return;
    this.compose.killAllSync();
    removeRunResourcesSync(this.project);
  }

  private async carryOut(action: Action, node: NodeContainer): Promise<void> {
    const { container } = node;
    const t = this.options.stopTimeoutS;
    switch (action) {
      case 'disconnect':
        return this.disconnect(node);
      case 'reconnect':
        return this.reconnect(node);
      case 'kill':
        await this.act(
          node,
          'stopped',
          () => container.kill(),
          (info) => !info.State.Running,
        );
        return;
      case 'stop':
        await this.act(
          node,
          'stopped',
          () => container.stop({ t }),
          (info) => !info.State.Running,
        );
        return;
      case 'start':
        await this.act(
          node,
          'running',
          () => container.start(),
          (info) => info.State.Running,
        );
        await node.follower.follow();
        return;
      case 'restart':
        await this.restart(node);
        return;
      case 'pause':
        await this.act(
          node,
          'paused',
          () => container.pause(),
          (info) => info.State.Paused,
        );
        return;
      case 'unpause':
        await this.act(
          node,
          'running',
          () => container.unpause(),
          (info) => info.State.Running && !info.State.Paused,
        );
        return;
      case 'master-restart': {
        const listening = this.nextMasterLine((line) => line.event === 'listening', 'new listening line');
        try {
          await this.restart(node);
        } catch (err) {
          listening.cancel();
          throw err;
        }
        await listening.line;
        return;
      }
      default: {
        const never: never = action;
        throw new Error(`unknown action ${String(never)}`);
      }
    }
  }

  /** `docker restart`, confirmed by a new `StartedAt`; then the log is followed again (the old stream ended). */
  private async restart(node: NodeContainer): Promise<void> {
    const before = (await node.container.inspect()).State.StartedAt;
    await this.act(
      node,
      'restarted',
      () => node.container.restart({ t: this.options.stopTimeoutS }),
      (info) => info.State.Running && info.State.StartedAt !== before,
    );
    await node.follower.follow();
  }

  private async disconnect(node: NodeContainer): Promise<void> {
    const network = this.networkName;
    const endpoint = (await node.container.inspect()).NetworkSettings.Networks[network];
    if (endpoint !== undefined) this.cutAliases.set(node.name, endpoint.Aliases ?? []);
    await this.act(
      node,
      `disconnected from ${network}`,
      () => this.docker.getNetwork(network).disconnect({ Container: node.id, Force: true }),
      (info) => info.NetworkSettings.Networks[network] === undefined,
    );
  }

  private async reconnect(node: NodeContainer): Promise<void> {
    const network = this.networkName;
    // Compose's own aliases (the container name and the service) when the cut was not ours.
    const aliases = this.cutAliases.get(node.name) ?? [node.containerName, node.name.replace(/-\d+$/, '')];
    await this.act(
      node,
      `connected to ${network}`,
      () => this.docker.getNetwork(network).connect({ Container: node.id, EndpointConfig: { Aliases: aliases } }),
      (info) => info.NetworkSettings.Networks[network] !== undefined,
    );
    this.cutAliases.delete(node.name);
  }

  /**
   * Calls the Docker API, then polls the container until `accept` holds. A call
   * that fails is fine if the container is already as wanted (a kill of a
   * stopped container, a reconnect of a connected one): the state is what counts.
   */
  private async act(
    node: NodeContainer,
    what: string,
    call: () => Promise<unknown>,
    accept: (info: Docker.ContainerInspectInfo) => boolean,
  ): Promise<Docker.ContainerInspectInfo> {
    try {
      await call();
    } catch (err) {
      const info = await node.container.inspect().catch(() => undefined);
      if (info !== undefined && accept(info)) return info;
      throw err;
    }
    const deadline = Date.now() + this.options.confirmTimeoutMs;
    for (;;) {
      const info = await node.container.inspect();
      if (accept(info)) return info;
      if (Date.now() > deadline) {
        const { Status, Running, Paused, StartedAt } = info.State;
        throw new Error(
          `not ${what} after ${this.options.confirmTimeoutMs} ms ` +
            `(status ${Status}, running ${Running}, paused ${Paused}, started ${StartedAt})`,
        );
      }
      await delay(CONFIRM_POLL_MS);
    }
  }

  /** The first master line from now on that matches, within the confirmation timeout. */
  private nextMasterLine(
    match: (line: MasterLogLine) => boolean,
    what: string,
  ): { line: Promise<MasterLogLine>; cancel(): void } {
    let settle!: { resolve: (line: MasterLogLine) => void; reject: (err: Error) => void };
    const line = new Promise<MasterLogLine>((resolve, reject) => (settle = { resolve, reject }));
    // A waiter that is cancelled never rejects unobserved.
    line.catch(() => undefined);
    const timeoutMs = this.options.confirmTimeoutMs;
    const timer = setTimeout(
      () => waiter.reject(new Error(`no ${what} in the master's log within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const waiter: LineWaiter = {
      match,
      resolve: (found) => {
        this.waiters.delete(waiter);
        clearTimeout(timer);
        settle.resolve(found);
      },
      reject: (err) => {
        this.waiters.delete(waiter);
        clearTimeout(timer);
        settle.reject(err);
      },
    };
    this.waiters.add(waiter);
    return { line, cancel: () => waiter.reject(new Error('cancelled')) };
  }

  private onMasterLine(raw: string): void {
    const line = parseLogLine(raw);
    if (line === undefined) return;
    this.sinks.onMasterLine(line);
    for (const waiter of this.waiters) {
      if (waiter.match(line)) waiter.resolve(line);
    }
  }

  private async checkEngineAndImage(): Promise<void> {
    const { composeFile } = this.options;
    if (!existsSync(composeFile)) {
      throw new RunError(
        'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
        `no compose file at ${composeFile}: the docker backend runs the cluster that file defines`,
      );
    }
    try {
      await this.docker.ping();
    } catch (err) {
      throw new RunError(
        'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
        `no Docker engine answers (${(err as Error).message}); start one, or run scripts/setup-docker.sh`,
        { cause: err },
      );
    }
    const { image } = this.options;
    try {
      await this.docker.getImage(image).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) {
        throw new RunError(
          'PICLUSTER_ERR_IMAGE_MISSING',
          `the image ${image} is not in the local image store (nothing is pulled); build it with ` +
            `\`npm run build && OFFLINE_BASE=1 IMAGE=${image} scripts/build-images.sh\`, ` +
            'or name another one with PICLUSTER_IMAGE',
          { cause: err },
        );
      }
      throw new RunError(
        'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
        `cannot inspect the image ${image}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  private async openFile(name: string): Promise<void> {
    const path = join(this.runDir, `${name}.jsonl`);
    const file = createWriteStream(path, { flags: 'a' });
    // Until it is open, an error (no such directory) would be thrown as an unhandled 'error' event.
    file.on('error', (err) => this.warnings.push(`${path}: ${err.message}`));
    this.files.set(name, file);
    try {
      await once(file, 'open');
    } catch (err) {
      throw new RunError('PICLUSTER_ERR_RUN_DIR', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Lists the project's containers and sets up a log follower for each master and slave it knows a file for. */
  private async listContainers(): Promise<Docker.ContainerInfo[]> {
    const listed = await this.docker.listContainers({
      all: true,
      filters: { label: [`${COMPOSE_PROJECT_LABEL}=${this.project}`] },
    });
    for (const info of listed) {
      const service = info.Labels[SERVICE_LABEL];
      const name = service === 'master' ? 'master' : service === 'slave' ? `slave-${info.Labels[NUMBER_LABEL]}` : '';
      const file = this.files.get(name);
      if (file === undefined || this.containers.has(name)) continue;
      const container = this.docker.getContainer(info.Id);
      const onLine =
        name === 'master'
          ? (raw: string): void => {
              file.write(raw + '\n');
              this.onMasterLine(raw);
            }
          : (raw: string): void => void file.write(raw + '\n');
      this.containers.set(name, {
        name,
        id: info.Id,
        containerName: containerName(info),
        container,
        follower: new ContainerLogFollower(container, `${name} (${containerName(info)})`, onLine),
      });
    }
    return listed;
  }

  /** One master and slaves numbered 1…n, all running; fills `nodes`. */
  private checkContainers(listed: Docker.ContainerInfo[]): void {
    const problems: string[] = [];
    const of = (service: string): Docker.ContainerInfo[] =>
      listed.filter((info) => info.Labels[SERVICE_LABEL] === service);
    if (of('master').length !== 1) problems.push(`${of('master').length} master containers, expected 1`);
    const slaves = of('slave');
    if (slaves.length !== this.scenario.slaves) {
      problems.push(`${slaves.length} slave containers, expected ${this.scenario.slaves}`);
    }
    for (let n = 1; n <= this.scenario.slaves; n++) {
      const node = this.containers.get(`slave-${n}`);
      if (node === undefined) problems.push(`no slave container number ${n}`);
      else this.nodes[node.name] = node.containerName;
    }
    for (const info of listed) {
      if (info.State !== 'running') problems.push(`${containerName(info)} is ${info.State} (${info.Status})`);
    }
    if (problems.length > 0) {
      throw new RunError(
        'PICLUSTER_ERR_NODE_START',
        `docker compose up of ${this.project} did not give the expected cluster: ${problems.join('; ')}`,
      );
    }
  }

  private async findNetwork(): Promise<string> {
    const networks = await this.docker.listNetworks({
      filters: { label: [`${COMPOSE_PROJECT_LABEL}=${this.project}`, `${NETWORK_LABEL}=default`] },
    });
    if (networks.length !== 1 || networks[0] === undefined) {
      throw new RunError(
        'PICLUSTER_ERR_NODE_START',
        `expected one default network in project ${this.project}, found ${networks.length}`,
      );
    }
    return networks[0].Name;
  }

  private async upFailed(err: unknown): Promise<RunError> {
    const output = err instanceof ComposeCommandError ? `\n${err.output}` : '';
    const master = this.containers.get('master');
    const tail =
      master === undefined
        ? ''
        : `\nlast lines of the master (${master.containerName}):\n` +
          (await containerOutputTail(master.container, 10).catch((e: Error) => `(unreadable: ${e.message})`));
    const code =
      err instanceof ComposeCommandError && err.spawnFailed
        ? 'PICLUSTER_ERR_BACKEND_UNAVAILABLE'
        : 'PICLUSTER_ERR_NODE_START';
    return new RunError(code, `${(err as Error).message}${output}${tail}`, { cause: err });
  }

  private throwIfClosing(): void {
    if (this.closing) throw new RunError('PICLUSTER_ERR_RUN_ABORTED', `${this.project}: taken down while starting`);
  }

  private async teardown(): Promise<void> {
    this.closing = true;
    for (const waiter of this.waiters) waiter.reject(new Error('the cluster is shutting down'));
    // An `up` still running would create containers after they were removed.
    await this.compose.abort();
    if (this.composeStarted) {
      const t = String(this.options.stopTimeoutS);
      const timeoutMs = this.options.composeTimeoutMs;
      // A paused process would get SIGTERM only when thawed, i.e. SIGKILL after the grace: thawed first, it writes its last lines.
      await Promise.all(
        [...this.containers.values()].map((node) =>
          this.step(`unpause ${node.containerName}`, async () => {
            if ((await node.container.inspect()).State.Paused) await node.container.unpause();
          }),
        ),
      );
      await this.step('docker compose stop', () => this.compose.run(['stop', '--timeout', t], timeoutMs));
      const followers = [...this.containers.values()].map((node) => node.follower);
      await Promise.all(followers.map((follower) => follower.settled(LOG_SETTLE_MS)));
      await Promise.all(followers.map((follower) => this.step(`read ${follower.label}`, () => follower.catchUp())));
      await this.step('docker compose down', () =>
        this.compose.run(['down', '--timeout', t, '--remove-orphans', '--volumes'], timeoutMs),
      );
      const left = await removeRunResources(this.project, this.docker);
      this.warnings.push(...left.errors);
      for (const follower of followers) {
        follower.close();
        this.warnings.push(...follower.errors);
      }
    }
    await Promise.all(
      [...this.files.values()].map(async (file) => {
        if (file.closed || file.destroyed) return;
        const closed = once(file, 'close').catch(() => undefined);
        file.end();
        await closed;
      }),
    );
    liveClusters.release(this);
  }

  /** One step of `down()`: a failure is recorded and the next step runs. */
  private async step(what: string, action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
    } catch (err) {
      this.warnings.push(`${what}: ${(err as Error).message}`);
    }
  }
}

function containerName(info: Docker.ContainerInfo): string {
  return (info.Names[0] ?? info.Id).replace(/^\//, '');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
