import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { isMap, parseDocument } from 'yaml';
import { checkInteger } from '../../common';
import { logLineOf } from '../../protocol';
import { linkRefusal } from '../docker/node-links';
import { firstRefusal, nodeSettingsEnv, nodeSettingsOf, RunError, type Backend, type BackendSinks } from '../backend';
import type { RunDirectory } from '../run-directory';
import {
  ContainerCluster,
  liveClustersOf,
  resolveContainerBackendOptions,
  startFailed,
  TOKEN_SECRET_FILE_VARIABLE,
  type ContainerBackendOptions,
  type ContainerLogFollower,
  type NodeContainer,
} from '../docker';
import type { Scenario } from '../types';
import { STACK_NAMESPACE_LABEL, SwarmStack, removeStackResources } from './stack';

/** Every run deploys a stack of its own: this prefix and 8 random hex digits. */
export const SWARM_STACK_PREFIX = 'picluster-swarm-';

/** Grace between SIGTERM and SIGKILL for `stop`, `restart`, `master-restart` and `down()`, in seconds. */
export const DEFAULT_SWARM_STOP_TIMEOUT_S = 5;

/** Longest wait for a fault to show in the container's state (or the new master's `listening` line), in ms. */
export const DEFAULT_SWARM_CONFIRM_TIMEOUT_MS = 30_000;

/** Longest wait for `docker stack deploy` and for every task of the stack to run, in ms. */
export const DEFAULT_SWARM_DEPLOY_TIMEOUT_MS = 180_000;

/** One change a run makes to the Compose file: the key at `path` gets `value`; `undefined` removes it. */
export interface SwarmRunChange {
  path: readonly string[];
  value: unknown;
}

/**
 * What a run changes in the Compose file before it deploys it. The master's
 * health check goes: Swarm adds a task's name to its DNS only once the task's
 * first probe has passed (500 ms after it starts, then a `node` process), so
 * after a master restart the slaves would find no `master` for a probe
 * interval after the new one listens, and the run would time Docker's probe
 * schedule, not the slaves; a run confirms the new master from its log. (Not
 * overridable by a second Compose file: `test` lists merge by appending, and
 * `disable: true` next to a `test` is rejected.) The master's task is
 * replaced at once when it exits, which is how a master restart is carried
 * out. Swarm must not replace a killed or stopped slave by itself, so a fault
 * lasts until the scenario ends it (a `start` starts the same container
 * again), as with the other backends. A slave takes its id from its host
 * name, `<stack>_slave-<slot>`, the same id reverse DNS gives it otherwise:
 * Swarm's DNS forgets a task that exited, so a slave started again behind
 * Swarm's back would find no name there.
 */
export const SWARM_RUN_CHANGES: readonly SwarmRunChange[] = [
  { path: ['services', 'master', 'healthcheck'], value: undefined },
  { path: ['services', 'master', 'deploy', 'restart_policy'], value: { condition: 'any', delay: '0s' } },
  { path: ['services', 'slave', 'hostname'], value: '{{.Service.Name}}-{{.Task.Slot}}' },
  { path: ['services', 'slave', 'environment', 'NODE_ID_FROM'], value: 'hostname' },
  { path: ['services', 'slave', 'deploy', 'restart_policy'], value: { condition: 'none' } },
];

/**
 * The Compose file a run deploys: `composeText` with {@link SWARM_RUN_CHANGES}
 * made, its `${…}` left for `docker stack deploy` to fill in. Rejects
 * (`PICLUSTER_ERR_BACKEND_UNAVAILABLE`) a file that is not YAML or lacks the
 * `master` or `slave` service.
 */
export function swarmRunStackFile(composeText: string, file = 'the compose file'): string {
  const doc = parseDocument(composeText);
  const missing = ['master', 'slave'].find((service) => !isMap(doc.getIn(['services', service])));
  const problem = doc.errors[0]?.message ?? (missing === undefined ? undefined : `no service ${missing}`);
  if (problem !== undefined) throw new RunError('PICLUSTER_ERR_BACKEND_UNAVAILABLE', `${file}: ${problem}`);
  for (const { path, value } of SWARM_RUN_CHANGES) {
    if (value === undefined) doc.deleteIn(path);
    else doc.setIn(path, value);
  }
  return doc.toString();
}

/** The slaves' connect timeout in a run, in ms. */
const SWARM_CONNECT_TIMEOUT_MS = 1000;

const SERVICE_LABEL = 'com.docker.swarm.service.name';
const TASK_NAME_LABEL = 'com.docker.swarm.task.name';

export interface SwarmBackendOptions extends ContainerBackendOptions {
  /** Longest wait for the deploy and for every task to run, in ms (1000 to 3600000). Default 180000. */
  deployTimeoutMs: number;
}

/** Fills in the defaults of {@link SwarmBackendOptions} and checks the ranges. */
export function resolveSwarmBackendOptions(options: Partial<SwarmBackendOptions> = {}): SwarmBackendOptions {
  return {
    ...resolveContainerBackendOptions(options, {
      stopTimeoutS: DEFAULT_SWARM_STOP_TIMEOUT_S,
      confirmTimeoutMs: DEFAULT_SWARM_CONFIRM_TIMEOUT_MS,
    }),
    deployTimeoutMs: checkInteger(
      'deployTimeoutMs',
      options.deployTimeoutMs ?? DEFAULT_SWARM_DEPLOY_TIMEOUT_MS,
      1000,
      3_600_000,
    ),
  };
}

/**
 * Runs the cluster as a Docker Swarm stack deployed from the project's
 * `compose.yaml` (`docker stack deploy`, a stack of its own per run,
 * `picluster-swarm-<hex>`), on a swarm whose manager is the engine it talks
 * to. Faults act on the task containers of that node through the Docker API:
 * kill, stop, start, restart, pause, a network cut (disconnect from the
 * stack's overlay network); a master restart stops the master's container and
 * Swarm starts a new task, since a master container restarted behind Swarm's
 * back would have no DNS name. Slave `slave-N` is task slot N, with node id
 * `<stack>_slave-N` (its host name, from a Swarm template).
 */
export class SwarmBackend implements Backend {
  readonly name = 'swarm' as const;
  readonly options: SwarmBackendOptions;

  constructor(options: Partial<SwarmBackendOptions> = {}) {
    this.options = resolveSwarmBackendOptions(options);
  }

  /**
   * A network event this engine's kernel (or the missing helper image) cannot
   * carry out. The helper joins each slave's namespace through this engine:
   * every task runs on its node (the placement).
   */
  async refusal(scenario: Scenario): Promise<string | undefined> {
    const refused = await linkRefusal(this.options.docker, scenario);
    if (refused === undefined) return undefined;
    return firstRefusal(scenario, 'swarm', (event) => (event === refused.event ? refused.why : undefined));
  }

  async up(scenario: Scenario, runDir: RunDirectory, sinks: BackendSinks): Promise<SwarmCluster> {
    const cluster = new SwarmCluster(this.options, scenario, runDir, sinks);
    await cluster.start();
    return cluster;
  }

  /** Takes down every stack this process deployed and has not taken down yet. For a signal handler; never rejects. */
  static async cleanupAll(): Promise<void> {
    await Promise.all(liveClustersOf(SwarmCluster).map((cluster) => cluster.down().catch(() => undefined)));
  }
}

/** A running stack. Returned by {@link SwarmBackend.up}. */
export class SwarmCluster extends ContainerCluster<SwarmBackendOptions> {
  private readonly swarmStack: SwarmStack;
  /** Followers of master containers replaced by a master restart (already read to their end): their errors count at `down()`. */
  private readonly retired: ContainerLogFollower[] = [];
  /** The environment the Compose file is interpolated with; the image id and the placement are added once known. */
  private readonly stackEnv: Record<string, string>;
  /** The Compose file with the run's changes ({@link swarmRunStackFile}); read before the deploy. */
  private stackFile = '';
  private deployed = false;

  constructor(options: SwarmBackendOptions, scenario: Scenario, runDir: RunDirectory, sinks: BackendSinks) {
    super(`${SWARM_STACK_PREFIX}${randomBytes(4).toString('hex')}`, options, scenario, runDir, sinks);
    this.networkName = `${this.stack}_default`;
    this.stackEnv = {
      ...nodeSettingsEnv(nodeSettingsOf(scenario)),
      // A new master task has a new address, and until Swarm's DNS drops the old one a connection
      // attempt to it gets no answer at all: give up on it quickly (the slave's default is 5 s).
      CONNECT_TIMEOUT_MS: String(SWARM_CONNECT_TIMEOUT_MS),
      // Faults go through this engine: every task runs on its node (the placement is set once its id is known).
      SLAVES_PER_NODE: '0',
      [TOKEN_SECRET_FILE_VARIABLE]: this.tokenFile,
    };
    this.swarmStack = new SwarmStack(this.stack, options.composeFile, this.stackEnv);
  }

  /** The stack: every service, container, network and volume of the run carries `com.docker.stack.namespace=<stack>`. */
  get stack(): string {
    return this.runName;
  }

  /** For a process `exit` handler: removes the stack and its resources synchronously. */
  removeSync(): void {
    if (this.deployed) this.swarmStack.removeSync();
  }

  protected async launch(): Promise<void> {
    await this.checkEngine();
    const names = await this.openFiles();
    this.throwIfClosing();
    this.deployed = true;
    try {
      await this.swarmStack.deploy(this.stackFile, this.options.deployTimeoutMs);
    } catch (err) {
      throw startFailed(err);
    }
    await this.waitForTasks(names);
    // The id each slave takes from reverse DNS: service and task slot (src/slave/node-id.ts).
    for (let n = 1; n <= this.scenario.slaves; n++) this.nodes[`slave-${n}`] = `${this.stack}_slave-${n}`;
    this.throwIfClosing();
    await this.followAll();
  }

  /**
   * Stops the master's container (SIGTERM, so it logs its shutdown) and lets
   * Swarm start a new task, which keeps the volume (same node) and gets the
   * service's DNS name. Confirmed by the new master's `listening` line. (Started
   * again behind Swarm's back, the old container would have no DNS name: Swarm
   * unregisters a task once it exited.)
   */
  protected async restartMaster(old: NodeContainer): Promise<void> {
    const listening = this.nextMasterLine(
      (line) => logLineOf(line, 'master')?.event === 'listening',
      'new listening line',
    );
    try {
      await this.act(
        old,
        'stopped',
        () => old.container.stop({ t: this.options.stopTimeoutS }),
        (info) => !info.State.Running,
      );
      const found = await this.waitUntil('a new master task running', async () => {
        const [info] = await this.running('master');
        return info !== undefined && info.Id !== old.id ? info : undefined;
      });
      // The old task's last lines (its shutdown) go to the file before the new one's.
      await this.readToEnd(old.follower);
      old.follower.close();
      this.retired.push(old.follower);
      await this.track('master', found).follower.follow();
      await listening.line;
    } finally {
      listening.cancel();
    }
  }

  /** A node cut by someone else is reconnected without aliases. */
  protected runLabels(): Record<string, string> {
    return { [STACK_NAMESPACE_LABEL]: this.stack };
  }

  protected defaultAliases(): string[] {
    return [];
  }

  /**
   * Stops the slaves' containers, then the master's, reads every log to its
   * end, `docker stack rm`, and removes by label whatever is left (the
   * master's volume too).
   */
  protected async takeDown(): Promise<void> {
    await this.swarmStack.abort();
    if (!this.deployed) return;
    const t = this.options.stopTimeoutS;
    const nodes = [...this.containers.values()];
    await this.unpauseAll();
    const stop = (node: NodeContainer): Promise<void> =>
      this.step(`stop ${node.containerName}`, async () => {
        if ((await node.container.inspect()).State.Running) await node.container.stop({ t });
      });
    await Promise.all(nodes.filter((node) => node.name !== 'master').map(stop));
    // Scaled to 0, not stopped: Swarm would start a new master task at once.
    await this.step('scale the master to 0', () => this.scaleMasterToZero());
    await Promise.all(nodes.filter((node) => node.name === 'master').map(stop));
    await this.readAllToEnd();
    await this.step('docker stack rm', () => this.swarmStack.remove(this.options.deployTimeoutMs));
    this.warnings.push(...(await removeStackResources(this.stack, this.docker)).errors);
    this.closeFollowers(this.retired);
  }

  private async checkEngine(): Promise<void> {
    this.checkComposeFile('the stack is deployed from it');
    const { composeFile } = this.options;
    this.stackFile = swarmRunStackFile(readFileSync(composeFile, 'utf8'), composeFile);
    const { Swarm: swarm } = await this.askEngine(
      () =>
        this.docker.info() as Promise<{
          Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string };
        }>,
    );
    if (swarm?.LocalNodeState !== 'active' || swarm.ControlAvailable !== true || !swarm.NodeID) {
      throw new RunError(
        'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
        `this Docker engine is not a Swarm manager (swarm state: ${swarm?.LocalNodeState ?? 'unknown'}); ` +
          'make it one with `docker swarm init --advertise-addr 127.0.0.1`',
      );
    }
    this.stackEnv.MASTER_PLACEMENT = `node.id == ${swarm.NodeID}`;
    this.stackEnv.SLAVE_PLACEMENT = `node.id == ${swarm.NodeID}`;
    // By id: a Swarm node pulls an image named by a tag before each task starts, and there may be no registry.
    this.stackEnv.PICLUSTER_IMAGE = (await this.inspectImage()).Id;
  }

  /** The stack's running containers of one service (`master`, `slave`). */
  private async running(service: string): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({
      filters: {
        label: [`${STACK_NAMESPACE_LABEL}=${this.stack}`, `${SERVICE_LABEL}=${this.stack}_${service}`],
        status: ['running'],
      },
    });
  }

  /** Waits until the master and every slave slot have a running container on this node, and tracks them. */
  private async waitForTasks(names: string[]): Promise<void> {
    try {
      await this.waitUntil(
        'every task running',
        async () => {
          for (const info of [...(await this.running('master')), ...(await this.running('slave'))]) {
            const name = nodeNameOf(info);
            if (this.isNode(name) && !this.containers.has(name)) this.track(name, info);
          }
          if (names.every((name) => this.containers.has(name))) return true;
          await this.startUnstarted(names.filter((name) => !this.containers.has(name) && name !== 'master'));
          return undefined;
        },
        this.options.deployTimeoutMs,
      );
    } catch (err) {
      const missing = names.filter((name) => !this.containers.has(name));
      throw new RunError(
        'PICLUSTER_ERR_NODE_START',
        `${this.stack}: no running task on this node for ${missing.join(', ')}` +
          `${await this.taskErrors()} (${(err as Error).message})`,
        { cause: err },
      );
    }
  }

  /** How often a slave's container that the engine failed to start is started again at deploy. */
  private readonly startAttempts = new Map<string, number>();

  /**
   * Starts again the containers of slave slots that the engine created but
   * failed to start (moby/moby#48783: the secrets' tmpfs cannot be remounted
   * read-only, "device or resource busy", a race). Swarm would not retry:
   * slaves run with restart condition `none`, so that a killed one stays
   * down. At most 3 attempts per container; the task's error is reported if
   * they all fail.
   */
  private async startUnstarted(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const created = await this.docker.listContainers({
      all: true,
      filters: {
        label: [`${STACK_NAMESPACE_LABEL}=${this.stack}`, `${SERVICE_LABEL}=${this.stack}_slave`],
        status: ['created'],
      },
    });
    for (const info of created) {
      const attempts = this.startAttempts.get(info.Id) ?? 0;
      if (!names.includes(nodeNameOf(info)) || attempts >= 3) continue;
      this.startAttempts.set(info.Id, attempts + 1);
      await this.docker
        .getContainer(info.Id)
        .start()
        .catch(() => undefined);
    }
  }

  /** What Swarm says about tasks that did not start, for error messages. */
  private async taskErrors(): Promise<string> {
    try {
      const tasks = (await this.docker.listTasks({
        filters: { label: [`${STACK_NAMESPACE_LABEL}=${this.stack}`] },
      })) as Array<{ Slot?: number; Status?: { State?: string; Err?: string } }>;
      const errors = tasks
        .filter((task) => task.Status?.Err)
        .map((task) => `slot ${task.Slot ?? '?'}: ${task.Status?.State} (${task.Status?.Err})`);
      return errors.length > 0 ? `; Swarm says: ${[...new Set(errors)].join('; ')}` : '';
    } catch {
      return '';
    }
  }

  /** Swarm stops the master's task (SIGTERM, then SIGKILL after the grace period) and starts none. */
  private async scaleMasterToZero(): Promise<void> {
    const service = this.docker.getService(`${this.stack}_master`);
    const info = (await service.inspect()) as { Version: { Index: number }; Spec: { Mode?: { Replicated?: object } } };
    await service.update({ ...info.Spec, Mode: { Replicated: { Replicas: 0 } }, version: info.Version.Index });
    const master = this.containers.get('master');
    if (master === undefined) return;
    await this.waitUntil(
      'the master stopped',
      async () => ((await master.container.inspect()).State.Running ? undefined : true),
      (this.options.stopTimeoutS + 10) * 1000,
    );
  }
}

/** `master`, or `slave-N` for the task in slot N (its task name is `<stack>_slave.N.<task id>`). */
function nodeNameOf(info: Docker.ContainerInfo): string {
  const service = info.Labels[SERVICE_LABEL] ?? '';
  const slot = (info.Labels[TASK_NAME_LABEL] ?? '').split('.')[1];
  if (service.endsWith('_master')) return 'master';
  return service.endsWith('_slave') && slot !== undefined ? `slave-${slot}` : '';
}
