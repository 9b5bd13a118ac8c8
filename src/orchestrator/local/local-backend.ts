import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitGuard } from '../../common';
import { logLineOf } from '../../protocol';
import {
  faultFailed,
  masterFlags,
  nodeSettingsOf,
  parseLogLine,
  RunError,
  slaveFlags,
  type Backend,
  type BackendSinks,
  type MasterLogLine,
  type NodeSettings,
  type StartedCluster,
} from '../backend';
import { ClusterCore, LineWaiters, pollUntil } from '../cluster-core';
import { RUN_FILES, type RunDirectory } from '../run-directory';
import type { Action, Scenario, ScenarioEvent } from '../types';
import { mulberry32 } from '../generate';
import { FaultProxy } from './fault-proxy';

/** The `picluster` CLI of this build: `dist/orchestrator/local` -> `dist/cli/main.js`. */
export const DEFAULT_LOCAL_CLI_PATH = join(__dirname, '..', '..', 'cli', 'main.js');

/** Time between SIGTERM and SIGKILL when a node is stopped, in ms. */
export const DEFAULT_LOCAL_STOP_GRACE_MS = 5000;

/** Longest wait for a node's readiness line or a fault's confirmation, in ms. */
export const DEFAULT_LOCAL_CONFIRM_TIMEOUT_MS = 10_000;

export interface LocalBackendOptions {
  /** The `picluster` CLI each node runs, with the running Node.js. Default {@link DEFAULT_LOCAL_CLI_PATH}. */
  cliPath: string;
  /** SIGTERM -> SIGKILL grace for `stop`, `restart`, `master-restart` and `down()`, in ms. Default 5000. */
  stopGraceMs: number;
  /** Longest wait for a `listening`/`starting` line, an exit or a process state, in ms. Default 10000. */
  confirmTimeoutMs: number;
}

/**
 * Runs the master and the slaves as child processes on loopback, each slave
 * behind its own {@link FaultProxy} so that a network cut can be simulated
 * without privileges.
 */
export class LocalBackend implements Backend {
  readonly name = 'local' as const;
  readonly options: LocalBackendOptions;

  constructor(options: Partial<LocalBackendOptions> = {}) {
    this.options = {
      cliPath: options.cliPath ?? DEFAULT_LOCAL_CLI_PATH,
      stopGraceMs: options.stopGraceMs ?? DEFAULT_LOCAL_STOP_GRACE_MS,
      confirmTimeoutMs: options.confirmTimeoutMs ?? DEFAULT_LOCAL_CONFIRM_TIMEOUT_MS,
    };
  }

  /** The fault proxy carries out every action. */
  refusal(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  async up(scenario: Scenario, runDir: RunDirectory, sinks: BackendSinks): Promise<StartedCluster> {
    const cluster = new LocalCluster(this.options, scenario, runDir, sinks);
    await cluster.start();
    return cluster;
  }
}

/**
 * Every node process any local cluster of this process started and that has
 * not exited yet: nodes run in their own process group, so nothing else would
 * stop them if the runner died without `down()`.
 */
const liveChildren = new ExitGuard<ChildProcess>((child) => child.kill('SIGKILL'));

function track(child: ChildProcess): void {
  liveChildren.hold(child);
  child.once('exit', () => liveChildren.release(child));
}

interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One incarnation of a node: a child process whose stdout goes, line by line, to its log file. */
class NodeProcess {
  readonly child: ChildProcess;
  /** Settles once the process has exited and its stdout is read to the end. */
  readonly closed: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  private stderrTail = '';
  private readonly waiters = new LineWaiters();

  constructor(
    readonly label: string,
    cliPath: string,
    args: string[],
    /** The run's token: in the environment, where other users cannot read it as they can argv. */
    token: string,
    logFile: WriteStream,
    onLine?: (line: MasterLogLine) => void,
  ) {
    this.child = spawn(process.execPath, [cliPath, ...args], {
      // Only PATH: a MASTER_PORT, LOG_FILE or HEARTBEAT_COUNT in the runner's environment must not reach the nodes.
      env: { PATH: process.env.PATH ?? '', CLUSTER_TOKEN: token },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C in the terminal reaches only the runner, which stops nodes in order.
      detached: true,
    });
    track(this.child);
    let rest = '';
    const stdout = this.child.stdout!;
    stdout.setEncoding('utf8');
    stdout.on('data', (text: string) => {
      const end = text.lastIndexOf('\n');
      if (end < 0) {
        rest += text;
        return;
      }
      const complete = rest + text.slice(0, end + 1);
      rest = text.slice(end + 1);
      logFile.write(complete);
      for (const raw of complete.split('\n')) {
        if (raw === '') continue;
        const line = parseLogLine(raw);
        if (line === undefined) continue;
        onLine?.(line);
        this.waiters.see(line);
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-2000);
    });
    this.closed = new Promise<ExitStatus>((resolve) => {
      this.child.once('error', (err) => {
        this.stderrTail += `\n${err.message}`;
        // A process that could not be spawned emits no exit.
        if (this.child.pid === undefined) resolve((this.status = { code: null, signal: null }));
      });
      this.child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        // The last line of a process killed mid-write is kept as it is: the file holds what it wrote.
        if (rest !== '') logFile.write(rest + '\n');
        resolve((this.status = { code, signal }));
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.status === undefined;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Resolves with the first line from now on that matches; rejects if the process ends first or on timeout. */
  waitForLine(match: (line: MasterLogLine) => boolean, what: string, timeoutMs: number): Promise<MasterLogLine> {
    const wait = this.waiters.wait(
      match,
      timeoutMs,
      () => new Error(`${this.label}: no ${what} within ${timeoutMs} ms${this.stderrText()}`),
    );
    void this.closed.then(({ code, signal }) =>
      wait.cancel(new Error(`${this.label} exited (${signal ?? `code ${code}`}) before ${what}${this.stderrText()}`)),
    );
    return wait.line;
  }

  /** Resolves true once the process has exited, false if it is still running after `timeoutMs`. */
  async exitWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const exited = await Promise.race([this.closed.then(() => true), timedOut]);
    clearTimeout(timer);
    return exited;
  }

  /** SIGTERM (and SIGCONT, so a paused process handles it), then SIGKILL after `graceMs`; resolves once exited. */
  async terminate(graceMs: number, confirmTimeoutMs: number): Promise<void> {
    this.signal('SIGTERM');
    this.signal('SIGCONT');
    if (await this.exitWithin(graceMs)) return;
    await this.kill(confirmTimeoutMs);
  }

  /** SIGKILL; resolves once exited. */
  async kill(confirmTimeoutMs: number): Promise<void> {
    this.signal('SIGKILL');
    if (!(await this.exitWithin(confirmTimeoutMs))) {
      throw new Error(`${this.label} (pid ${this.pid}) still runs ${confirmTimeoutMs} ms after SIGKILL`);
    }
  }

  /** The process state letter from `/proc/<pid>/stat` (`R`, `S`, `T` stopped…). */
  async state(): Promise<string> {
    const stat = await readFile(`/proc/${this.pid}/stat`, 'utf8');
    // The command name in parentheses may itself hold spaces and parentheses; the state follows the last `)`.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  }

  /** Polls the process state until `accept` holds: the kernel applies SIGSTOP/SIGCONT asynchronously. */
  async waitForState(accept: (state: string) => boolean, what: string, timeoutMs: number): Promise<void> {
    let state = '';
    await pollUntil(
      what,
      async () => {
        state = await this.state();
        return accept(state) ? true : undefined;
      },
      {
        timeoutMs,
        intervalMs: 5,
        stopIf: () => (this.running ? undefined : `${this.label} exited before it was ${what}`),
        lastSeen: () => ` (state ${state})`,
        subject: `${this.label} `,
      },
    );
  }

  private stderrText(): string {
    const text = this.stderrTail.trim();
    return text === '' ? '' : `; stderr: ${text}`;
  }
}

interface SlaveSlot {
  readonly name: string;
  readonly proxy: FaultProxy;
  readonly logFile: WriteStream;
  process: NodeProcess | undefined;
}

class LocalCluster extends ClusterCore<string> {
  private master: NodeProcess | undefined;
  private masterPort = 0;
  private readonly slaves = new Map<string, SlaveSlot>();
  private readonly settings: NodeSettings;
  /** Every run authenticates its slaves, each with a token of its own: the checker fails any `auth_failed`. */
  private readonly token = randomBytes(32).toString('hex');

  constructor(
    private readonly options: LocalBackendOptions,
    scenario: Scenario,
    runDir: RunDirectory,
    sinks: BackendSinks,
  ) {
    super(runDir, sinks);
    this.settings = nodeSettingsOf(scenario);
    this.seed = scenario.seed ?? 0;
  }

  /** What the proxies' losses and jitter are drawn from: the scenario's seed, so a run replays them. */
  private readonly seed: number;

  protected readonly handlers: Record<Action, (target: string, event: ScenarioEvent) => Promise<void>> = {
    disconnect: async (target) => this.slot(target).proxy.cut(),
    reconnect: async (target) => this.slot(target).proxy.heal(),
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
    reset: async (target) => this.slot(target).proxy.reset(),
    heal: async (target) => this.slot(target).proxy.heal(),
  };

  /** A network action: the slave's proxy shapes its link from now on (in effect at once: confirmed). */
  private degrade(target: string, event: ScenarioEvent): Promise<void> {
    if (event.link === undefined) return Promise.reject(faultFailed(event, 'the event has no link parameters'));
    this.slot(target).proxy.degrade(event.link);
    return Promise.resolve();
  }

  protected async launch(): Promise<void> {
    await this.logs.open('master');
    this.masterPort = await this.startMaster(0);
    const names = Array.from({ length: this.settings.slaves }, (_, index) => `slave-${index + 1}`);
    for (const [index, name] of names.entries()) {
      this.nodes[name] = name;
      const next = mulberry32((this.seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0);
      const proxy = new FaultProxy({ upstreamPort: () => this.masterPort, random: () => next() / 2 ** 32 });
      const logFile = await this.logs.open(name);
      this.slaves.set(name, { name, proxy, logFile, process: undefined });
      await proxy.listen();
    }
    await Promise.all(names.map((name) => this.startSlave(this.slot(name))));
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
    // The master's own copy of its log, which a restarted master reads back (the last seq per node).
    args.push('--log-file', this.runDir.file(RUN_FILES.masterLogFile));
    const master = new NodeProcess('master', this.options.cliPath, args, this.token, this.logs.get('master'), (line) =>
      this.seeMasterLine(line),
    );
    this.master = master;
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

  /** Stops the master (SIGTERM), then starts it again on the same port, or on a free one if that was taken. */
  private async restartMaster(): Promise<void> {
    const { stopGraceMs, confirmTimeoutMs } = this.options;
    const old = this.master;
    if (old === undefined || !old.running) throw new Error('the master is not running');
    await old.terminate(stopGraceMs, confirmTimeoutMs);
    try {
      this.masterPort = await this.startMaster(this.masterPort);
    } catch {
      // Another process took the port in between: the proxies read the new one for every connection.
      this.masterPort = await this.startMaster(0);
    }
  }

  private async startSlave(slot: SlaveSlot): Promise<void> {
    const master = `127.0.0.1:${slot.proxy.port}`;
    const args = ['slave', '--id', slot.name, '--master', master, ...slaveFlags(this.settings)];
    const node = new NodeProcess(slot.name, this.options.cliPath, args, this.token, slot.logFile);
    slot.process = node;
    try {
      await node.waitForLine(
        (line) => logLineOf(line, 'slave')?.event === 'starting',
        'starting line',
        this.options.confirmTimeoutMs,
      );
    } catch (err) {
      throw new RunError('PICLUSTER_ERR_NODE_START', `${slot.name} did not start: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  protected async stopNodes(): Promise<void> {
    const { stopGraceMs, confirmTimeoutMs } = this.options;
    // Still running after SIGKILL: nothing more can be done; the exit hook tries once more.
    const stop = (node: NodeProcess | undefined): Promise<void> =>
      node === undefined
        ? Promise.resolve()
        : this.step(`stop ${node.label}`, () => node.terminate(stopGraceMs, confirmTimeoutMs));
    // Slaves first, so the master logs their disconnects before its own shutdown.
    await Promise.all([...this.slaves.values()].map((slot) => stop(slot.process)));
    await stop(this.master);
    await Promise.all([...this.slaves.values()].map((slot) => slot.proxy.close()));
  }
}
