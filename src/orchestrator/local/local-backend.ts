import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, unlinkSync, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { logLineOf } from '../../protocol';
import {
  faultFailed,
  masterFlags,
  nodeSettingsOf,
  RunError,
  slaveFlags,
  type Backend,
  type BackendSinks,
  type NodeSettings,
  type StartedCluster,
} from '../backend';
import { ClusterCore } from '../cluster-core';
import { RUN_FILES, type RunDirectory } from '../run-directory';
import type { Action, PeakRss, Scenario, ScenarioEvent } from '../types';
import { masterMaxConnections, masterOpenFiles, openFilesLimits } from './descriptors';
import { NodeProcess } from './node-process';
import { MASTER_NICE, setNiceness, SLAVE_NICE } from './priority';
import { ProxyHost, type RemoteFaultProxy } from './proxy-host';
import {
  DEFAULT_PACK_SIZE,
  DEFAULT_PACK_THRESHOLD,
  LogSplitter,
  packNames,
  planSlaveProcesses,
  packFileName,
  SLAVE_PREFIX,
  slaveLogsOpenAtOnce,
  slaveName,
  splitPackFile,
  type SlaveProcessPlan,
  targetedSlaves,
  type PackOptions,
} from './slave-packs';

/** The `picluster` CLI of this build: `dist/orchestrator/local` -> `dist/cli/main.js`. */
export const DEFAULT_LOCAL_CLI_PATH = join(__dirname, '..', '..', 'cli', 'main.js');

/** Time between SIGTERM and SIGKILL when a node is stopped, in ms. */
export const DEFAULT_LOCAL_STOP_GRACE_MS = 5000;

/** Longest wait for a node's readiness line or a fault's confirmation, in ms. */
export const DEFAULT_LOCAL_CONFIRM_TIMEOUT_MS = 10_000;

/**
 * How long a packed slave waits for its connection to be accepted and
 * challenged. The master takes one connection from its accept queue per turn
 * of its event loop (libuv); with thousands of slaves beating on a busy
 * machine that is a few hundred a second, and the queue may hold more than a
 * slave's usual 5 s. A slave that hangs up then goes to the back of the queue
 * and leaves a dead connection for the master to accept: past a point, every
 * connection accepted is one already abandoned. No fault ever acts on a pack,
 * so the long wait never delays a recovery the checker bounds.
 */
export const PACK_CONNECT_TIMEOUT_MS = 60_000;

export interface LocalBackendOptions extends PackOptions {
  /** The `picluster` CLI each node runs, with the running Node.js. Default {@link DEFAULT_LOCAL_CLI_PATH}. */
  cliPath: string;
  /** The fault proxies' process ({@link ProxyHost}). Default `proxy-host.js` beside `cliPath`. */
  proxyHostPath: string;
  /** SIGTERM -> SIGKILL grace for `stop`, `restart`, `master-restart` and `down()`, in ms. Default 5000. */
  stopGraceMs: number;
  /** Longest wait for a `listening`/`starting` line, an exit or a process state, in ms. Default 10000. */
  confirmTimeoutMs: number;
}

/**
 * Runs the master and the slaves as child processes on loopback, each slave
 * behind its own fault proxy (in a process of their own, {@link ProxyHost})
 * so that a network cut can be simulated without privileges. Above
 * `packThreshold` slaves, the slaves no event targets run `packSize` to a
 * process (`picluster slave --replicas`), straight to the master; a targeted
 * slave keeps a process and a proxy of its own, so that a fault on it
 * affects it alone.
 */
export class LocalBackend implements Backend {
  readonly name = 'local' as const;
  readonly options: LocalBackendOptions;

  constructor(options: Partial<LocalBackendOptions> = {}) {
    const cliPath = options.cliPath ?? DEFAULT_LOCAL_CLI_PATH;
    this.options = {
      cliPath,
      proxyHostPath: options.proxyHostPath ?? join(dirname(cliPath), 'proxy-host.js'),
      stopGraceMs: options.stopGraceMs ?? DEFAULT_LOCAL_STOP_GRACE_MS,
      confirmTimeoutMs: options.confirmTimeoutMs ?? DEFAULT_LOCAL_CONFIRM_TIMEOUT_MS,
      packThreshold: options.packThreshold ?? DEFAULT_PACK_THRESHOLD,
      packSize: options.packSize ?? DEFAULT_PACK_SIZE,
    };
  }

  /** The fault proxy carries out every action. */
  refusal(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  async up(scenario: Scenario, runDir: RunDirectory, sinks: BackendSinks): Promise<StartedCluster> {
    const plan = planSlaveProcesses(scenario.slaves, targetedSlaves(scenario.events), this.options);
    // Before anything starts: a limit too low for the slaves is named, not met half-way.
    const maxOpenFiles = masterOpenFiles(scenario.slaves, openFilesLimits(), slaveLogsOpenAtOnce(plan));
    const cluster = new LocalCluster(this.options, scenario, plan, runDir, sinks, maxOpenFiles);
    await cluster.start();
    return cluster;
  }
}

interface SlaveSlot {
  readonly name: string;
  readonly proxy: RemoteFaultProxy;
  readonly logFile: WriteStream;
  process: NodeProcess | undefined;
}

/** Slaves `slave-<first>` … in one process, connected straight to the master. */
interface SlavePack {
  readonly first: number;
  readonly names: readonly string[];
  /** Where the process writes its output, which is split into the slaves' logs once it has stopped. */
  readonly file: string;
  process: NodeProcess | undefined;
}

class LocalCluster extends ClusterCore<string> {
  private master: NodeProcess | undefined;
  private masterPort = 0;
  private readonly slaves = new Map<string, SlaveSlot>();
  private readonly packs: SlavePack[] = [];
  private readonly settings: NodeSettings;
  /** Peak RSS of the processes, sampled as they are stopped at the end. */
  peakRss: PeakRss | undefined;
  /** The lone slaves' fault proxies; started with the first of them. */
  private proxyHost: ProxyHost | undefined;
  /** Every run authenticates its slaves, each with a token of its own: the checker fails any `auth_failed`. */
  private readonly token = randomBytes(32).toString('hex');

  constructor(
    private readonly options: LocalBackendOptions,
    scenario: Scenario,
    /** Which slaves run alone and which in packs. */
    private readonly plan: readonly SlaveProcessPlan[],
    runDir: RunDirectory,
    sinks: BackendSinks,
    /** The master's `ulimit -n`, when the runner's is not enough for it. */
    private readonly masterOpenFiles: number | undefined,
  ) {
    super(runDir, sinks);
    this.settings = nodeSettingsOf(scenario);
    this.seed = scenario.seed ?? 0;
  }

  /** What the proxies' losses and jitter are drawn from: the scenario's seed, so a run replays them. */
  private readonly seed: number;

  protected readonly handlers: Record<Action, (target: string, event: ScenarioEvent) => Promise<void>> = {
    disconnect: (target) => this.slot(target).proxy.cut(),
    reconnect: (target) => this.slot(target).proxy.heal(),
    kill: (target) => this.runningNode(target).kill(this.options.confirmTimeoutMs),
    stop: (target) => this.runningNode(target).terminate(this.options.stopGraceMs, this.options.confirmTimeoutMs),
    start: async (target, event) => {
      const slot = this.slot(target);
      if (slot.process?.running) throw faultFailed(event, `${slot.name} is running`);
      await this.startSlave(slot);
    },
    restart: async (target) => {
      await this.runningNode(target).terminate(this.options.stopGraceMs, this.options.confirmTimeoutMs);
      await this.startSlave(this.slot(target));
    },
    pause: async (target) => {
      const node = this.runningNode(target);
      node.signal('SIGSTOP');
      await node.waitForState((state) => state === 'T', 'paused', this.options.confirmTimeoutMs);
    },
    unpause: async (target) => {
      const node = this.runningNode(target);
      node.signal('SIGCONT');
      await node.waitForState((state) => state !== 'T', 'resumed', this.options.confirmTimeoutMs);
    },
    'master-restart': () => this.restartMaster(),
    delay: (target, event) => this.degrade(target, event),
    loss: (target, event) => this.degrade(target, event),
    bandwidth: (target, event) => this.degrade(target, event),
    slice: (target, event) => this.degrade(target, event),
    partition: (target, event) => this.degrade(target, event),
    degrade: (target, event) => this.degrade(target, event),
    reset: (target) => this.slot(target).proxy.reset(),
    heal: (target) => this.slot(target).proxy.heal(),
  };

  /** A network action: the slave's proxy shapes its link from now on (confirmed once the proxy has it). */
  private degrade(target: string, event: ScenarioEvent): Promise<void> {
    if (event.link === undefined) return Promise.reject(faultFailed(event, 'the event has no link parameters'));
    return this.slot(target).proxy.degrade(event.link);
  }

  protected async launch(): Promise<void> {
    await this.logs.open('master');
    this.masterPort = await this.startMaster(0);
    const { plan } = this;
    const alone = new Set(plan.flatMap((entry) => (entry.kind === 'alone' ? [entry.name] : [])));
    for (let index = 0; index < this.settings.slaves; index++) {
      const name = slaveName(index + 1);
      this.nodes[name] = name;
      // A packed slave's log is written once its pack has stopped (splitPack).
      if (!alone.has(name)) continue;
      await this.logs.open(name);
      await this.addSlot(name, index);
    }
    for (const entry of plan) {
      if (entry.kind === 'alone') continue;
      const names = packNames(entry);
      this.packs.push({ first: entry.first, names, file: this.runDir.file(packFileName(names)), process: undefined });
    }
    await Promise.all([...[...this.slaves.values()].map((slot) => this.startSlave(slot)), this.startPacks()]);
  }

  /** A slave with a process of its own, behind its own fault proxy. */
  private async addSlot(name: string, index: number): Promise<void> {
    const proxy = await (await this.proxies()).open((this.seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0);
    this.slaves.set(name, { name, proxy, logFile: this.logs.get(name), process: undefined });
  }

  /** The fault proxies' process, started at the first call, weighed like a slave process. */
  private async proxies(): Promise<ProxyHost> {
    if (this.proxyHost === undefined) {
      const host = new ProxyHost(this.options.proxyHostPath, this.options.confirmTimeoutMs);
      this.proxyHost = host;
      this.prioritize(host.pid, SLAVE_NICE, 'the fault proxies');
      try {
        await host.upstream(this.masterPort);
      } catch (err) {
        throw new RunError('PICLUSTER_ERR_NODE_START', `the fault proxies did not start: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    return this.proxyHost;
  }

  /** Slave events act on a slave by name; its handler finds it (or fails the fault). */
  protected targetOf(event: ScenarioEvent): string {
    return event.target;
  }

  protected describe(): string {
    return '';
  }

  private slot(name: string): SlaveSlot {
    const slot = this.slaves.get(name);
    if (slot === undefined) throw new Error(`no slave named ${name} (the scenario has ${this.settings.slaves})`);
    return slot;
  }

  private runningNode(name: string): NodeProcess {
    const slot = this.slot(name);
    if (slot.process === undefined || !slot.process.running) throw new Error(`${slot.name} is not running`);
    return slot.process;
  }

  /** Starts the master on `port` (0: a free one); resolves with the port its `listening` line gives. */
  private async startMaster(port: number): Promise<number> {
    const args = ['master', '--port', String(port), '--host', '127.0.0.1', ...masterFlags(this.settings)];
    args.push('--max-connections', String(masterMaxConnections(this.settings.slaves)));
    // The master's own copy of its log, which a restarted master reads back (the last seq per node).
    args.push('--log-file', this.runDir.file(RUN_FILES.masterLogFile));
    const logFile = this.logs.get('master');
    const master = new NodeProcess('master', this.options.cliPath, args, {
      token: this.token,
      stdout: { lines: (lines) => logFile.write(lines), onLine: (line) => this.seeMasterLine(line) },
      maxOpenFiles: this.masterOpenFiles,
    });
    this.master = master;
    this.prioritize(master.pid, MASTER_NICE, 'the master');
    try {
      const listening = await master.waitForLine(
        (line) => logLineOf(line, 'master')?.event === 'listening',
        'listening line',
        this.options.confirmTimeoutMs,
      );
      return listening.port as number;
    } catch (err) {
      // A master that did not say it listens (e.g. slow, not dead) must not go on running unseen.
      await master.terminate(this.options.stopGraceMs, this.options.confirmTimeoutMs).catch(() => undefined);
      throw new RunError('PICLUSTER_ERR_NODE_START', `the master did not start: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /**
   * Gives process `pid` niceness `nice`, and its session's autogroup too; where that
   * is not allowed, says so once for `who` (`run.json` `warnings`).
   */
  private prioritize(pid: number | undefined, nice: number, who: string): void {
    if (pid === undefined) return;
    try {
      setNiceness(pid, nice);
    } catch (err) {
      const warning = `${who} not given nice ${nice} (it takes root or CAP_SYS_NICE): ${(err as Error).message}`;
      if (!this.warnings.includes(warning)) this.warnings.push(warning);
    }
  }

  /**
   * Stops the master (SIGTERM), then starts it again on the same port, or on
   * a free one if that was taken — but not with packs, which connect to that
   * port straight: then the fault fails.
   */
  private async restartMaster(): Promise<void> {
    const { stopGraceMs, confirmTimeoutMs } = this.options;
    const old = this.master;
    if (old === undefined || !old.running) throw new Error('the master is not running');
    await old.terminate(stopGraceMs, confirmTimeoutMs);
    try {
      this.masterPort = await this.startMaster(this.masterPort);
    } catch (err) {
      if (this.packs.length > 0) throw err;
      // Another process took the port in between: the proxies read the new one for every connection.
      this.masterPort = await this.startMaster(0);
      await this.proxyHost?.upstream(this.masterPort);
    }
  }

  private async startSlave(slot: SlaveSlot): Promise<void> {
    const master = `127.0.0.1:${slot.proxy.port}`;
    const args = ['slave', '--id', slot.name, '--master', master, ...slaveFlags(this.settings)];
    const { logFile } = slot;
    const node = new NodeProcess(slot.name, this.options.cliPath, args, {
      token: this.token,
      stdout: { lines: (lines) => logFile.write(lines) },
    });
    slot.process = node;
    this.prioritize(node.pid, SLAVE_NICE, 'slave processes');
    await this.started(node, slot.name, this.options.confirmTimeoutMs);
  }

  /**
   * One pack after the other: each spreads its slaves' connects over one
   * interval, so that the master takes a pack's worth a second rather than
   * ten thousand connections at once, whose hellos would wait in its accept
   * queue longer than a slave waits for the challenge.
   */
  private async startPacks(): Promise<void> {
    for (const pack of this.packs) await this.startPack(pack);
  }

  /**
   * Starts a pack's process; resolves once its last slave said `starting`:
   * the process spreads its slaves' starts over one heartbeat interval.
   */
  private async startPack(pack: SlavePack): Promise<void> {
    const { names } = pack;
    const args = ['slave', '--id', SLAVE_PREFIX, '--replicas', String(names.length)];
    args.push('--first-replica', String(pack.first), '--master', `127.0.0.1:${this.masterPort}`);
    args.push('--connect-timeout-ms', String(PACK_CONNECT_TIMEOUT_MS));
    const label = `${names[0]!}…${names[names.length - 1]!}`;
    const node = new NodeProcess(label, this.options.cliPath, [...args, ...slaveFlags(this.settings)], {
      token: this.token,
      stdout: { file: pack.file },
    });
    pack.process = node;
    this.prioritize(node.pid, SLAVE_NICE, 'slave processes');
    const timeoutMs = this.options.confirmTimeoutMs + this.settings.heartbeatIntervalMs;
    await this.started(node, names[names.length - 1]!, timeoutMs);
  }

  /** Resolves once `node` logs slave `name`'s `starting` line; rejects (`PICLUSTER_ERR_NODE_START`) otherwise. */
  private async started(node: NodeProcess, name: string, timeoutMs: number): Promise<void> {
    try {
      await node.waitForLine(
        (line) => {
          const starting = logLineOf(line, 'slave');
          return starting?.event === 'starting' && starting.node === name;
        },
        'starting line',
        timeoutMs,
      );
    } catch (err) {
      throw new RunError('PICLUSTER_ERR_NODE_START', `${node.label} did not start: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /**
   * `master.jsonl` becomes the master's record, its `--log-file`: what it
   * acked. Its stdout, which the file replaces, is for watching: the master
   * drops lines from it (`log_dropped`) when the runner reads it too slowly,
   * as a busy machine with thousands of slaves makes it.
   */
  protected override afterDown(): void {
    const record = this.runDir.file(RUN_FILES.masterLogFile);
    try {
      if (existsSync(record)) copyFileSync(record, this.runDir.file(RUN_FILES.master));
    } catch (err) {
      this.warnings.push(`${RUN_FILES.master} is the master's stdout, not its record: ${(err as Error).message}`);
    }
  }

  /** The fault proxies' process died: not the cluster's doing, so the run cannot be judged (rather than fail the slaves whose links went). */
  protected override brokenBy(): RunError | undefined {
    const why = this.proxyHost?.failure;
    return why === undefined
      ? undefined
      : new RunError('PICLUSTER_ERR_BACKEND_UNAVAILABLE', `the lone slaves' links went during the run: ${why}`);
  }

  protected async stopNodes(): Promise<void> {
    const { stopGraceMs, confirmTimeoutMs } = this.options;
    // Still running after SIGKILL: nothing more can be done; the exit hook tries once more.
    const stop = (node: NodeProcess | undefined): Promise<void> =>
      node === undefined
        ? Promise.resolve()
        : this.step(`stop ${node.label}`, () => node.terminate(stopGraceMs, confirmTimeoutMs));
    const slaves = [...this.slaves.values(), ...this.packs].map((slave) => slave.process);
    this.peakRss = await peakRssOf(this.master, slaves);
    // Slaves first, so the master logs their disconnects before its own shutdown.
    await Promise.all(slaves.map(stop));
    await stop(this.master);
    const { proxyHost } = this;
    if (proxyHost !== undefined) await this.step('stop the fault proxies', () => proxyHost.close(stopGraceMs));
    for (const pack of this.packs) await this.step(`split ${pack.file}`, () => this.splitPack(pack));
  }

  /**
   * Writes a stopped pack's output into its slaves' logs, one pack's files
   * open at a time, then removes it; one that cannot be split stays, named
   * in a warning. A pack that never started leaves its slaves' logs empty.
   */
  private async splitPack(pack: SlavePack): Promise<void> {
    const files = new Map<string, WriteStream>();
    for (const name of pack.names) files.set(name, await this.logs.open(name));
    try {
      if (existsSync(pack.file)) {
        await splitPackFile(pack.file, new LogSplitter(files, files.get(pack.names[0]!)!));
        unlinkSync(pack.file);
      }
    } finally {
      await this.logs.close(pack.names);
    }
  }
}

/** The peak RSS of the master and of the slave processes still running, and the master's CPU time; undefined where /proc says nothing. */
async function peakRssOf(
  master: NodeProcess | undefined,
  slaves: ReadonlyArray<NodeProcess | undefined>,
): Promise<PeakRss | undefined> {
  const masterBytes = await master?.peakRssBytes();
  const masterCpuMs = await master?.cpuMs();
  const slaveBytes = (await Promise.all(slaves.map((node) => node?.peakRssBytes()))).filter(
    (bytes): bytes is number => bytes !== undefined,
  );
  if (masterBytes === undefined) return undefined;
  return {
    masterBytes,
    ...(masterCpuMs === undefined ? {} : { masterCpuMs }),
    slaveProcesses: slaveBytes.length,
    slaveMaxBytes: Math.max(0, ...slaveBytes),
    slaveTotalBytes: slaveBytes.reduce((sum, bytes) => sum + bytes, 0),
  };
}
