import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import Docker from 'dockerode';
import { checkInteger } from '../../common';
import { logLineOf } from '../../protocol';
import { linkRefusal } from './node-links';
import {
  firstRefusal,
  nodeSettingsEnv,
  nodeSettingsOf,
  RunError,
  type Backend,
  type BackendSinks,
  type MasterLogLine,
} from '../backend';
import type { RunDirectory } from '../run-directory';
import type { ContainerMemory, Scenario } from '../types';
import { readMemory, summarizeMemory } from './container-memory';
import {
  ContainerCluster,
  containerNameOf,
  liveClustersOf,
  resolveContainerBackendOptions,
  TOKEN_SECRET_FILE_VARIABLE,
  type ContainerBackendOptions,
  type NodeContainer,
} from './container-cluster';
import { DEFAULT_ENGINE_CONCURRENCY, mapBounded } from './bounded';
import { DockerCli, startFailed } from './docker-cli';
import { removeLabelled, removeLabelledSync, type RemovedResources } from './labelled-resources';
import { containerOutputTail } from './log-follower';

/** Every run gets its own Compose project: this prefix and 8 random hex digits. */
export const DOCKER_PROJECT_PREFIX = 'picluster-run-';

/** The label Compose puts on every container, network and volume of a project. */
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';

/** Grace between SIGTERM and SIGKILL for `stop`, `restart`, `master-restart` and `down()`, in seconds. */
export const DEFAULT_DOCKER_STOP_TIMEOUT_S = 5;

/** Longest wait for a fault to show in the container's state (or the master's `listening` line), in ms. */
export const DEFAULT_DOCKER_CONFIRM_TIMEOUT_MS = 15_000;

/** Longest a `docker compose up`/`stop`/`down` may take, in ms, before {@link COMPOSE_MS_PER_CONTAINER} is added per container. */
export const DEFAULT_DOCKER_COMPOSE_TIMEOUT_MS = 180_000;

/**
 * What each container of the cluster adds to a Compose command's time limit,
 * in ms: on the 2-core development machine under other work, the engine
 * created and started 201 containers in 197 s to 380 s (up to 1.9 s each);
 * this is half as much again as the slowest (docs/containers.md).
 */
export const COMPOSE_MS_PER_CONTAINER = 3000;

/**
 * At most this many containers Compose creates, starts or stops at once
 * (`COMPOSE_PARALLEL_LIMIT`): unbounded, 200 creations at once queue up in the
 * engine and time each other out on a small machine.
 */
export const DEFAULT_COMPOSE_PARALLEL_LIMIT = 8;

/** The time limit of a Compose command on a cluster of `containers` containers (the master and the slaves), in ms. */
export function composeTimeoutFor(containers: number): number {
  return DEFAULT_DOCKER_COMPOSE_TIMEOUT_MS + COMPOSE_MS_PER_CONTAINER * containers;
}

/**
 * The master container's CPU weight (cgroup `cpu.shares`; a slave has the
 * default 1024): when the containers compete for a core, the master gets as
 * much as 8 slaves. Its stall times out every slave's acks; a slave's, only its own.
 */
export const MASTER_CPU_SHARES = 8192;

/** How often the containers are listed while `docker compose start` runs, to follow each one's log as it starts, in ms. */
const START_POLL_MS = 1000;

const SERVICE_LABEL = 'com.docker.compose.service';
const NUMBER_LABEL = 'com.docker.compose.container-number';
const NETWORK_LABEL = 'com.docker.compose.network';

export interface DockerBackendOptions extends ContainerBackendOptions {
  /**
   * Longest a `docker compose` command may take, in ms (1000 to 3600000).
   * Default (undefined): {@link composeTimeoutFor} the scenario's containers, 180000 + 3000 per container.
   */
  composeTimeoutMs: number | undefined;
  /** Most containers Compose handles at once (`COMPOSE_PARALLEL_LIMIT`, 1 to 1000). Default 8. */
  composeParallelLimit: number;
}

/** Fills in the defaults of {@link DockerBackendOptions} and checks the ranges. */
export function resolveDockerBackendOptions(options: Partial<DockerBackendOptions> = {}): DockerBackendOptions {
  return {
    ...resolveContainerBackendOptions(options, {
      stopTimeoutS: DEFAULT_DOCKER_STOP_TIMEOUT_S,
      confirmTimeoutMs: DEFAULT_DOCKER_CONFIRM_TIMEOUT_MS,
    }),
    composeTimeoutMs:
      options.composeTimeoutMs === undefined
        ? undefined
        : checkInteger('composeTimeoutMs', options.composeTimeoutMs, 1000, 3_600_000),
    composeParallelLimit: checkInteger(
      'composeParallelLimit',
      options.composeParallelLimit ?? DEFAULT_COMPOSE_PARALLEL_LIMIT,
      1,
      1000,
    ),
  };
}

/**
 * Removes every container (forced), network and volume that carries the
 * Compose label of `project`. For what `docker compose down` left behind: a
 * project whose `up` was interrupted, or whose file no longer parses. Never
 * rejects; `errors` says what failed.
 */
export function removeRunResources(project: string, docker: Docker = new Docker()): Promise<RemovedResources> {
  return removeLabelled(docker, `${COMPOSE_PROJECT_LABEL}=${project}`);
}

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

  /** A network event this engine's kernel (or the missing helper image) cannot carry out. */
  async refusal(scenario: Scenario): Promise<string | undefined> {
    const refused = await linkRefusal(this.options.docker, scenario);
    if (refused === undefined) return undefined;
    return firstRefusal(scenario, 'docker', (event) => (event === refused.event ? refused.why : undefined));
  }

  async up(scenario: Scenario, runDir: RunDirectory, sinks: BackendSinks): Promise<DockerCluster> {
    const cluster = new DockerCluster(this.options, scenario, runDir, sinks);
    await cluster.start();
    return cluster;
  }

  /**
   * Takes down every cluster this process started and has not taken down yet,
   * also one still starting (its `docker compose up` is stopped first). For a
   * signal handler; never rejects.
   */
  static async cleanupAll(): Promise<void> {
    await Promise.all(liveClustersOf(DockerCluster).map((cluster) => cluster.down().catch(() => undefined)));
  }

  /** The Compose projects of this process's clusters that are starting or running. */
  static liveProjects(): string[] {
    return liveClustersOf(DockerCluster).map((cluster) => cluster.project);
  }
}

/** A running cluster of one Compose project. Returned by {@link DockerBackend.up}. */
export class DockerCluster extends ContainerCluster<DockerBackendOptions> {
  private readonly compose: DockerCli;
  private composeStarted = false;
  /** The time limit of each Compose command on this cluster, in ms. */
  private readonly composeTimeoutMs: number;
  /** When `docker compose up` began and how long it took, in ms (epoch, duration). */
  private upStartedAt = 0;
  private composeUpMs = 0;
  private composeCreateMs: number | undefined;
  /** Each node id's first hello in the master's log: its timestamp, in ms since the epoch. */
  private readonly firstHelloAt = new Map<string, number>();
  private memory: ContainerMemory | undefined;

  constructor(options: DockerBackendOptions, scenario: Scenario, runDir: RunDirectory, sinks: BackendSinks) {
    super(`${DOCKER_PROJECT_PREFIX}${randomBytes(4).toString('hex')}`, options, scenario, runDir, sinks);
    const { composeFile } = options;
    this.composeTimeoutMs = options.composeTimeoutMs ?? composeTimeoutFor(scenario.slaves + 1);
    this.compose = new DockerCli(['compose', '-p', this.project, '-f', composeFile], dirname(composeFile), {
      PICLUSTER_IMAGE: options.image,
      COMPOSE_PARALLEL_LIMIT: String(options.composeParallelLimit),
      // LOG_FORMAT among them: a LOG_FORMAT=text in the caller's environment must not reach the nodes.
      ...nodeSettingsEnv(nodeSettingsOf(scenario)),
      [TOKEN_SECRET_FILE_VARIABLE]: this.tokenFile,
    });
  }

  /** The Compose project: every container and network of the run carries `com.docker.compose.project=<project>`. */
  get project(): string {
    return this.runName;
  }

  /** The containers' memory and the start-up time, read once the schedule is over; unset before. */
  get containerMemory(): ContainerMemory | undefined {
    return this.memory;
  }

  /** For a process `exit` handler: kills Compose commands in flight, removes the project's resources synchronously. */
  removeSync(): void {
    if (!this.composeStarted) return;
    this.compose.killAllSync();
    removeLabelledSync(`${COMPOSE_PROJECT_LABEL}=${this.project}`, 'network');
  }

  protected async launch(): Promise<void> {
    this.checkComposeFile('the docker backend runs the cluster that file defines');
    await this.askEngine(() => this.docker.ping());
    await this.inspectImage();
    await this.openFiles();
    this.throwIfClosing();
    this.composeStarted = true;
    let upFailure: unknown;
    this.upStartedAt = Date.now();
    // Created first, all of them, then started: the master gets its CPU weight before it runs, and the logs
    // are followed as the containers start (at 200 slaves starting takes minutes; creating, seconds).
    try {
      await this.compose.run(['create', '--no-build', '--pull', 'never'], this.composeTimeoutMs);
      this.composeCreateMs = Date.now() - this.upStartedAt;
      await this.weighMaster();
      // A down() that began meanwhile has stopped the commands in flight: no `start` may come after it.
      this.throwIfClosing();
      const watch = this.followWhileStarting();
      try {
        await this.compose.run(['start'], this.composeTimeoutMs);
      } finally {
        await watch.stop();
      }
    } catch (err) {
      upFailure = err;
    }
    this.composeUpMs = Date.now() - this.upStartedAt;
    this.throwIfClosing();
    // Even after a failed `up`, whatever containers exist are followed, so their lines reach the run directory.
    const listed = await this.listContainers();
    if (upFailure !== undefined) throw await this.upFailed(upFailure);
    this.checkContainers(listed);
    this.networkName = await this.findNetwork();
    this.throwIfClosing();
    await this.followAll();
  }

  protected async restartMaster(node: NodeContainer): Promise<void> {
    const listening = this.nextMasterLine(
      (line) => logLineOf(line, 'master')?.event === 'listening',
      'new listening line',
    );
    try {
      await this.restart(node);
    } catch (err) {
      listening.cancel();
      throw err;
    }
    await listening.line;
  }

  protected override seeMasterLine(line: MasterLogLine): void {
    const typed = logLineOf(line, 'master');
    const node = typed?.event === 'message' && typed.type === 'hello' ? typed.node : undefined;
    if (node !== undefined && !this.firstHelloAt.has(node))
      this.firstHelloAt.set(node, Date.parse(String(line.timestamp)));
    super.seeMasterLine(line);
  }

  /** Compose's own aliases: the container name and the service. */
  protected runLabels(): Record<string, string> {
    return { [COMPOSE_PROJECT_LABEL]: this.project };
  }

  protected defaultAliases(node: NodeContainer): string[] {
    return [node.containerName, node.name.replace(/-\d+$/, '')];
  }

  /**
   * `docker compose stop` (the slaves, then the master), reads every log to its
   * end, `docker compose down`, and removes by label whatever is left.
   */
  protected async takeDown(): Promise<void> {
    // An `up` still running would create containers after they were removed.
    await this.compose.abort();
    if (!this.composeStarted) return;
    const t = String(this.options.stopTimeoutS);
    const timeoutMs = this.composeTimeoutMs;
    // Before anything stops: the figures are of the cluster as it ran.
    await this.step("read the containers' memory", async () => (this.memory = await this.measureMemory()));
    await this.unpauseAll();
    await this.step('docker compose stop', () => this.compose.run(['stop', '--timeout', t], timeoutMs));
    await this.readAllToEnd();
    await this.step('docker compose down', () =>
      this.compose.run(['down', '--timeout', t, '--remove-orphans', '--volumes'], timeoutMs),
    );
    this.warnings.push(...(await removeRunResources(this.project, this.docker)).errors);
    this.closeFollowers();
  }

  /**
   * While `docker compose up` runs, follows each node's log as soon as its
   * container runs, every {@link START_POLL_MS}. Followed from its first line
   * only once a long start-up is over, the master's log was read back all at
   * once, and meanwhile the engine took the master's new output so slowly that
   * the master, which waits for its log, stopped reading its slaves for 5 s
   * (200 slaves: 199 false disconnects before t = 0).
   */
  private followWhileStarting(): { stop(): Promise<void> } {
    let stopped = false;
    let wake = (): void => undefined;
    const round = async (): Promise<void> => {
      const running = new Set(
        (await this.listContainers()).filter((info) => info.State === 'running').map((info) => info.Id),
      );
      const fresh = [...this.containers.values()].filter((node) => running.has(node.id) && !node.follower.following);
      await mapBounded(fresh, DEFAULT_ENGINE_CONCURRENCY, (node) => node.follower.follow());
    };
    const loop = (async (): Promise<void> => {
      while (!stopped && !this.closing) {
        // A failed round is tried again by the next, and followAll() after `up` follows whatever is left.
        await round().catch(() => undefined);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, START_POLL_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        wake();
        await loop;
      },
    };
  }

  /**
   * Gives the master's container {@link MASTER_CPU_SHARES}: on a machine busy
   * with other work, the run's containers share what CPU the engine's cgroup
   * gets, and a master that waits for a core stalls every slave's acks at once.
   */
  private async weighMaster(): Promise<void> {
    const master = (await this.listContainers()).find((info) => info.Labels[SERVICE_LABEL] === 'master');
    if (master !== undefined) await this.docker.getContainer(master.Id).update({ CpuShares: MASTER_CPU_SHARES });
  }

  /** Every running container's memory (docs/containers.md), and how long the cluster took to start. */
  private async measureMemory(): Promise<ContainerMemory | undefined> {
    const master = this.containers.get('master');
    const slaves = [...this.containers.values()].filter((node) => node !== master);
    if (master === undefined || slaves.length === 0) return undefined;
    const [masterSample, ...slaveSamples] = await readMemory([master, ...slaves].map((node) => node.container));
    const hellos = Object.values(this.nodes).map((id) => this.firstHelloAt.get(id));
    const lastHello = hellos.every((at) => at !== undefined) ? Math.max(...hellos) : undefined;
    return summarizeMemory(
      masterSample,
      slaveSamples.filter((sample) => sample !== undefined),
      {
        sampledAt: new Date().toISOString(),
        composeUpMs: this.composeUpMs,
        composeCreateMs: this.composeCreateMs,
        allHellosMs: lastHello === undefined ? undefined : lastHello - this.upStartedAt,
      },
    );
  }

  /** Lists the project's containers and tracks each master and slave it knows a file for. */
  private async listContainers(): Promise<Docker.ContainerInfo[]> {
    const listed = await this.docker.listContainers({
      all: true,
      filters: { label: [`${COMPOSE_PROJECT_LABEL}=${this.project}`] },
    });
    for (const info of listed) {
      const service = info.Labels[SERVICE_LABEL];
      const name = service === 'master' ? 'master' : service === 'slave' ? `slave-${info.Labels[NUMBER_LABEL]}` : '';
      if (this.isNode(name) && !this.containers.has(name)) this.track(name, info);
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
      if (info.State !== 'running') problems.push(`${containerNameOf(info)} is ${info.State} (${info.Status})`);
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
    const master = this.containers.get('master');
    const tail =
      master === undefined
        ? ''
        : `\nlast lines of the master (${master.containerName}):\n` +
          (await containerOutputTail(master.container, 10).catch((e: Error) => `(unreadable: ${e.message})`));
    return startFailed(err, tail);
  }
}
