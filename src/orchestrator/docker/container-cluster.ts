import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import Docker from 'dockerode';
import { ExitGuard, checkInteger } from '../../common';
import { ACTION_SPECS } from '../actions';
import { faultFailed, parseLogLine, RunError, type BackendSinks, type MasterLogLine } from '../backend';
import { ClusterCore, pollUntil, type LineWait } from '../cluster-core';
import type { RunDirectory } from '../run-directory';
import type { Action, Scenario, ScenarioEvent } from '../types';
import { DEFAULT_ENGINE_CONCURRENCY, mapBounded } from './bounded';
import { ContainerLogFollower } from './log-follower';
import { NodeLinks } from './node-links';

/** The image both services run when neither the options nor `PICLUSTER_IMAGE` name one. */
export const DEFAULT_DOCKER_IMAGE = 'picluster:latest';

/** The project's `compose.yaml`: `{src,dist}/orchestrator/docker` -> the repository root. */
export const DEFAULT_COMPOSE_FILE = join(__dirname, '..', '..', '..', 'compose.yaml');

/**
 * The variable the Compose file's `cluster_token` secret takes its file from:
 * a run sets it to a token of its own ({@link ContainerCluster.tokenFile}).
 */
export const TOKEN_SECRET_FILE_VARIABLE = 'CLUSTER_TOKEN_SECRET_FILE';

/** How often a wait on the engine (a fault's confirmation, tasks to run) polls it, in ms. */
const POLL_MS = 50;

/** How long `down()` waits for each followed log stream to end once its container stopped, in ms. */
const LOG_SETTLE_MS = 3000;

/** What the backends that run the cluster as containers (docker, swarm) take. */
export interface ContainerBackendOptions {
  /**
   * The image of both services, by name or id; it must be in the engine's
   * image store (nothing is pulled). Default: `PICLUSTER_IMAGE`, else {@link DEFAULT_DOCKER_IMAGE}.
   */
  image: string;
  /** The Compose file that defines the cluster. Default {@link DEFAULT_COMPOSE_FILE}. */
  composeFile: string;
  /** The Docker API client. Default: `new Docker()` (`DOCKER_HOST` or the local socket, as the `docker` CLI). */
  docker: Docker;
  /** SIGTERM -> SIGKILL grace of `stop`, `restart`, `master-restart` and `down()`, in s (0 to 60). Default 5. */
  stopTimeoutS: number;
  /** Longest wait for a fault's confirmation, in ms (100 to 300000). Default: 15000 (docker), 30000 (swarm). */
  confirmTimeoutMs: number;
}

/** Fills in the defaults of {@link ContainerBackendOptions}, the backend's own ones in `defaults`, and checks the ranges. */
export function resolveContainerBackendOptions(
  options: Partial<ContainerBackendOptions>,
  defaults: Pick<ContainerBackendOptions, 'stopTimeoutS' | 'confirmTimeoutMs'>,
): ContainerBackendOptions {
  return {
    image: options.image ?? (process.env.PICLUSTER_IMAGE || DEFAULT_DOCKER_IMAGE),
    composeFile: options.composeFile ?? DEFAULT_COMPOSE_FILE,
    docker: options.docker ?? new Docker(),
    stopTimeoutS: checkInteger('stopTimeoutS', options.stopTimeoutS ?? defaults.stopTimeoutS, 0, 60),
    confirmTimeoutMs: checkInteger(
      'confirmTimeoutMs',
      options.confirmTimeoutMs ?? defaults.confirmTimeoutMs,
      100,
      300_000,
    ),
  };
}

/**
 * Every cluster of this process that is starting or running: what the
 * backends' `cleanupAll` take down, and, should the process end without
 * `down()`, what is removed on exit with the `docker` CLI.
 */
const liveClusters = new ExitGuard<ContainerCluster>((cluster) => cluster.removeSync());

/** This process's clusters of one kind that are starting or running, in the order they started. */
export function liveClustersOf<T extends ContainerCluster>(kind: abstract new (...args: never[]) => T): T[] {
  return liveClusters.items.filter((cluster): cluster is T => cluster instanceof kind);
}

/** A container of the cluster: the master or one slave. */
export interface NodeContainer {
  /** `master` or `slave-N`. */
  readonly name: string;
  readonly id: string;
  readonly containerName: string;
  readonly container: Docker.Container;
  readonly follower: ContainerLogFollower;
}

/**
 * A cluster whose nodes are containers of this engine: writes each node's
 * log to the run directory, carries out faults through the Docker API and
 * confirms them by the container's state. A subclass brings the containers up
 * ({@link launch}), takes them down ({@link takeDown}) and restarts the master.
 */
export abstract class ContainerCluster<
  O extends ContainerBackendOptions = ContainerBackendOptions,
> extends ClusterCore<NodeContainer> {
  protected readonly docker: Docker;
  /** The nodes by name (`master`, `slave-N`). */
  protected readonly containers = new Map<string, NodeContainer>();
  /** The network `disconnect` cuts a node from. */
  protected networkName = '';
  /** Endpoint aliases of each node whose network is cut, to reconnect it as it was. */
  private readonly cutAliases = new Map<string, string[]>();

  protected constructor(
    /** What labels every resource of the run: the Compose project or the Swarm stack. */
    readonly runName: string,
    protected readonly options: O,
    protected readonly scenario: Scenario,
    runDir: RunDirectory,
    sinks: BackendSinks,
  ) {
    super(runDir, sinks);
    this.docker = options.docker;
  }

  /**
   * Brings the cluster up and follows every node's log. When that fails
   * half-way, takes down what was started, then rejects with a {@link RunError}.
   */
  override async start(): Promise<void> {
    // Tracked from the start: a cleanupAll() during the checks must stop the commands that would follow them.
    liveClusters.hold(this);
    await super.start();
  }

  protected override startError(err: unknown): RunError {
    if (err instanceof RunError) return err;
    return new RunError('PICLUSTER_ERR_NODE_START', `${this.runName}: ${(err as Error).message}`, { cause: err });
  }

  protected targetOf(event: ScenarioEvent): NodeContainer {
    const node = this.containers.get(event.target);
    if (node === undefined) throw faultFailed(event, `no node named ${event.target} in this cluster`);
    if (ACTION_SPECS[event.action].target === 'master' && node.name !== 'master') {
      throw faultFailed(event, `${event.action} applies to the master, not to ${event.target}`);
    }
    return node;
  }

  protected describe(node: NodeContainer): string {
    return `${node.containerName}: `;
  }

  /** For a process `exit` handler: kills the commands in flight, removes the run's resources synchronously. */
  abstract removeSync(): void;

  /**
   * The run-specific part of `down()`: stops the slaves, then the master (each
   * writes its last lines), reads every log to its end, removes the run's
   * resources. Never rejects.
   */
  protected abstract takeDown(): Promise<void>;

  protected override async stopNodes(): Promise<void> {
    await this.takeDown();
  }

  protected override afterDown(): void {
    liveClusters.release(this);
  }

  /** `master-restart`, confirmed by the master's new `listening` line. */
  protected abstract restartMaster(node: NodeContainer): Promise<void>;

  /** The aliases a node is reconnected with when it was not cut by this cluster. */
  protected abstract defaultAliases(node: NodeContainer): string[];

  /**
   * How the container backends carry out each action (ACTION_SPECS says what
   * it means); each resolves once the container's state confirms it.
   */
  protected readonly handlers: Record<Action, (node: NodeContainer, event: ScenarioEvent) => Promise<void>> = {
    disconnect: (node) => this.disconnect(node),
    reconnect: (node) => this.reconnect(node),
    kill: (node) =>
      this.act(
        node,
        'stopped',
        () => node.container.kill(),
        (info) => !info.State.Running,
      ),
    stop: (node) =>
      this.act(
        node,
        'stopped',
        () => node.container.stop({ t: this.options.stopTimeoutS }),
        (info) => !info.State.Running,
      ),
    start: async (node, event) => {
      await this.act(
        node,
        'running',
        () => this.startAgain(node),
        (info) => info.State.Running,
      );
      await node.follower.follow();
      await this.reapplyLinks(event, [node.name]);
    },
    restart: async (node, event) => {
      await this.restart(node);
      await this.reapplyLinks(event, [node.name]);
    },
    pause: (node) =>
      this.act(
        node,
        'paused',
        () => node.container.pause(),
        (info) => info.State.Paused,
      ),
    unpause: (node) =>
      this.act(
        node,
        'running',
        () => node.container.unpause(),
        (info) => info.State.Running && !info.State.Paused,
      ),
    'master-restart': async (node, event) => {
      await this.restartMaster(node);
      await this.reapplyLinks(event);
    },
    delay: (node, event) => this.applyLink(node, event),
    loss: (node, event) => this.applyLink(node, event),
    bandwidth: (node, event) => this.applyLink(node, event),
    slice: (node, event) => this.applyLink(node, event),
    partition: (node, event) => this.applyLink(node, event),
    degrade: (node, event) => this.applyLink(node, event),
    reset: (node, event) => this.nodeLinks.reset(node, this.masterNode(event).container, event),
    heal: (node, event) => this.nodeLinks.clear(node, this.masterNode(event).container, event),
  };

  /** The labels of every resource of the run, helpers included: cleanup goes by them. */
  protected abstract runLabels(): Record<string, string>;

  private links: NodeLinks | undefined;

  private get nodeLinks(): NodeLinks {
    this.links ??= new NodeLinks(this.docker, this.runLabels(), () => this.networkName);
    return this.links;
  }

  /** A network fault on a slave's link, set in its network namespace by the helper image. */
  private async applyLink(node: NodeContainer, event: ScenarioEvent): Promise<void> {
    await this.nodeLinks.apply(node, this.masterNode(event).container, event);
  }

  /**
   * Sets again the link faults of `names` (every slave when unset): their
   * containers started again in a new network namespace, or the master
   * restarted, maybe at another address.
   */
  private async reapplyLinks(event: ScenarioEvent, names?: readonly string[]): Promise<void> {
    if (this.links === undefined) return;
    const slaves = [...this.containers.values()].filter(
      (node) => node.name !== 'master' && (names === undefined || names.includes(node.name)),
    );
    await this.links.reapply(this.masterNode(event).container, event, slaves);
  }

  private masterNode(event: ScenarioEvent): NodeContainer {
    const master = this.containers.get('master');
    if (master === undefined) throw faultFailed(event, 'the cluster has no master container');
    return master;
  }

  /** `docker restart`, confirmed by a new `StartedAt`; then the log is followed again (the old stream ended). */
  protected async restart(node: NodeContainer): Promise<void> {
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

  /**
   * Starts a stopped container again. While it was stopped, another container
   * may have taken its address (Swarm's overlay hands a dead task's address to
   * the next task, e.g. a restarted master's): the engine then refuses with
   * "Address already in use", and the container rejoins the network, under the
   * same aliases, for a new address first.
   */
  private async startAgain(node: NodeContainer): Promise<void> {
    try {
      await node.container.start();
    } catch (err) {
      if (!/address already in use/i.test((err as Error).message)) throw err;
      const network = this.docker.getNetwork(this.networkName);
      const endpoint = (await node.container.inspect()).NetworkSettings.Networks[this.networkName];
      const aliases = endpoint?.Aliases ?? this.defaultAliases(node);
      await network.disconnect({ Container: node.id, Force: true });
      await network.connect({ Container: node.id, EndpointConfig: { Aliases: aliases } });
      await node.container.start();
    }
  }

  private async reconnect(node: NodeContainer): Promise<void> {
    const network = this.networkName;
    const aliases = this.cutAliases.get(node.name) ?? this.defaultAliases(node);
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
  protected async act(
    node: NodeContainer,
    what: string,
    call: () => Promise<unknown>,
    accept: (info: Docker.ContainerInspectInfo) => boolean,
  ): Promise<void> {
    try {
      await call();
    } catch (err) {
      const info = await node.container.inspect().catch(() => undefined);
      if (info !== undefined && accept(info)) return;
      throw err;
    }
    let state: Docker.ContainerInspectInfo['State'] | undefined;
    await this.waitUntil(
      what,
      async () => {
        const info = await node.container.inspect();
        state = info.State;
        return accept(info) ? info : undefined;
      },
      this.options.confirmTimeoutMs,
      () =>
        state === undefined
          ? ''
          : ` (status ${state.Status}, running ${state.Running}, paused ${state.Paused}, started ${state.StartedAt})`,
    );
  }

  /** Polls `find` until it gives something, within `timeoutMs`; gives up early once the cluster is shutting down. */
  protected waitUntil<T>(
    what: string,
    find: () => Promise<T | undefined>,
    timeoutMs = this.options.confirmTimeoutMs,
    lastSeen: () => string = () => '',
  ): Promise<T> {
    return pollUntil(what, find, {
      timeoutMs,
      intervalMs: POLL_MS,
      stopIf: () => (this.closing ? `not ${what}: the cluster is shutting down` : undefined),
      lastSeen,
    });
  }

  /** The first master line from now on that matches, within the confirmation timeout. */
  protected nextMasterLine(match: (line: MasterLogLine) => boolean, what: string): LineWait {
    const timeoutMs = this.options.confirmTimeoutMs;
    return this.masterLines.wait(
      match,
      timeoutMs,
      () => new Error(`no ${what} in the master's log within ${timeoutMs} ms`),
    );
  }

  /** Rejects (`PICLUSTER_ERR_BACKEND_UNAVAILABLE`) unless the Compose file exists; `why` says what it is needed for. */
  protected checkComposeFile(why: string): void {
    const { composeFile } = this.options;
    if (!existsSync(composeFile)) {
      throw new RunError('PICLUSTER_ERR_BACKEND_UNAVAILABLE', `no compose file at ${composeFile}: ${why}`);
    }
  }

  /** The engine's answer to `request`; rejects (`PICLUSTER_ERR_BACKEND_UNAVAILABLE`) when no engine answers. */
  protected async askEngine<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw new RunError(
        'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
        `no Docker engine answers (${(err as Error).message}); start one, or run scripts/setup-docker.sh`,
        { cause: err },
      );
    }
  }

  /** The image of the options, from the engine's image store; rejects with `PICLUSTER_ERR_IMAGE_MISSING` when not there. */
  protected async inspectImage(): Promise<Docker.ImageInspectInfo> {
    const { image } = this.options;
    try {
      return await this.docker.getImage(image).inspect();
    } catch (err) {
      const missing = (err as { statusCode?: number }).statusCode === 404;
      throw new RunError(
        missing ? 'PICLUSTER_ERR_IMAGE_MISSING' : 'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
        missing
          ? `the image ${image} is not in the local image store (nothing is pulled); build it with ` +
              `\`npm run build && OFFLINE_BASE=1 IMAGE=${image} scripts/build-images.sh\`, or name another one with PICLUSTER_IMAGE`
          : `cannot inspect the image ${image}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /**
   * The run's own token, which {@link openFiles} writes: the Compose file's
   * `cluster_token` secret is made from it, so every run authenticates its
   * slaves (and the checker fails any `auth_failed`).
   */
  protected get tokenFile(): string {
    return this.runDir.tokenFile;
  }

  /**
   * Opens (appends to) `<runDir>/<name>.jsonl` for the master and each slave,
   * writes the run's {@link tokenFile}; resolves with the nodes' names.
   */
  protected async openFiles(): Promise<string[]> {
    const names = ['master', ...Array.from({ length: this.scenario.slaves }, (_, index) => `slave-${index + 1}`)];
    await Promise.all([...names.map((name) => this.logs.open(name)), this.writeToken()]);
    return names;
  }

  private async writeToken(): Promise<void> {
    const file = this.tokenFile;
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      // Readable by all: Compose bind-mounts the file as it is, and the image's user may not own it;
      // the directory keeps other users of this machine out.
      await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o644 });
    } catch (err) {
      throw new RunError('PICLUSTER_ERR_RUN_DIR', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Whether `name` is a node of this run (one with a log file). */
  protected isNode(name: string): boolean {
    return this.logs.has(name);
  }

  /** Makes `info` the container of node `name`, with a log follower that writes its lines to the node's file (not yet following). */
  protected track(name: string, info: Docker.ContainerInfo): NodeContainer {
    const file = this.logs.get(name);
    const container = this.docker.getContainer(info.Id);
    const containerName = containerNameOf(info);
    const onLine =
      name === 'master'
        ? (raw: string): void => {
            file.write(raw + '\n');
            const line = parseLogLine(raw);
            if (line !== undefined) this.seeMasterLine(line);
          }
        : (raw: string): void => void file.write(raw + '\n');
    const node: NodeContainer = {
      name,
      id: info.Id,
      containerName,
      container,
      follower: new ContainerLogFollower(container, `${name} (${containerName})`, onLine),
    };
    this.containers.set(name, node);
    return node;
  }

  /** Opens the log stream of every node not yet followed, a few requests at a time ({@link DEFAULT_ENGINE_CONCURRENCY}). */
  protected async followAll(): Promise<void> {
    const unfollowed = [...this.containers.values()].filter((node) => !node.follower.following);
    await mapBounded(unfollowed, DEFAULT_ENGINE_CONCURRENCY, (node) => node.follower.follow());
  }

  protected throwIfClosing(): void {
    if (this.closing) throw new RunError('PICLUSTER_ERR_RUN_ABORTED', `${this.runName}: taken down while starting`);
  }

  /** Unpauses every paused node. */
  protected async unpauseAll(): Promise<void> {
    // A paused process would get SIGTERM only when thawed, i.e. SIGKILL after the grace: thawed first, it writes its last lines.
    await mapBounded([...this.containers.values()], DEFAULT_ENGINE_CONCURRENCY, (node) =>
      this.step(`unpause ${node.containerName}`, async () => {
        if ((await node.container.inspect()).State.Paused) await node.container.unpause();
      }),
    );
  }

  /** Once its container stopped, reads a followed log to its end. */
  protected async readToEnd(follower: ContainerLogFollower): Promise<void> {
    await follower.settled(LOG_SETTLE_MS);
    await this.step(`read ${follower.label}`, () => follower.catchUp());
  }

  /**
   * Once the containers stopped, reads every followed log to its end: the
   * streams' ends are awaited all at once (no request), the catch-up reads go
   * a few at a time.
   */
  protected async readAllToEnd(): Promise<void> {
    const followers = [...this.containers.values()].map((node) => node.follower);
    await Promise.all(followers.map((follower) => follower.settled(LOG_SETTLE_MS)));
    await mapBounded(followers, DEFAULT_ENGINE_CONCURRENCY, (follower) =>
      this.step(`read ${follower.label}`, () => follower.catchUp()),
    );
  }

  /** Closes the nodes' followers and `others`, and records their errors. */
  protected closeFollowers(others: readonly ContainerLogFollower[] = []): void {
    for (const follower of [...[...this.containers.values()].map((node) => node.follower), ...others]) {
      follower.close();
      this.warnings.push(...follower.errors);
    }
  }
}

/** A container's name without Docker's leading slash. */
export function containerNameOf(info: Docker.ContainerInfo): string {
  return (info.Names[0] ?? info.Id).replace(/^\//, '');
}
