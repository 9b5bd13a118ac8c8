import { formatDuration } from '../common';
import { logLineOf, type ReadMasterLine } from '../protocol';
import { heartbeatTimeoutOf, RunError, type Backend, type MasterLogLine, type StartedCluster } from './backend';
import { checkRun, type CheckReport } from './checker';
import { writeReports } from './report-files';
import { RunDirectory } from './run-directory';
import type { RunInfo, RunInterruption, Scenario, ScenarioEvent, TimelineEntry } from './types';

/** How long the runner waits for every slave's hello once the cluster is up, on top of 3 intervals, in ms. */
export const DEFAULT_READY_TIMEOUT_MS = 15_000;

/**
 * And on top of that, per slave: the master accepts one connection per turn
 * of its event loop, measured at 330 a second with 10,000 slaves connecting
 * beside two CPU-bound processes on 2 cores (docs/benchmarks.md).
 */
export const READY_MS_PER_SLAVE = 3;

/** A stream the progress display writes to; a TTY gets a live line, anything else one final line. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface RunOptions {
  /** What runs the nodes and injects the faults. */
  backend: Backend;
  /**
   * The run directory; created, and refused if it exists and is not empty.
   * Default: `<runsDir>/<yyyymmdd-hhmmss>-<scenario name>`, with `-2`, `-3`… if taken.
   */
  outDir?: string;
  /** Parent of default run directories. Default `runs` (`DEFAULT_RUNS_DIR`, run-directory.ts). */
  runsDir?: string;
  /** The progress display: a live line on a TTY, one final line otherwise; `false` for none. Default `process.stderr`. */
  progress?: ProgressStream | false;
  /**
   * Aborting brings the cluster down and makes `runScenario` reject with
   * `PICLUSTER_ERR_RUN_ABORTED`; `run.json` records the interruption, with the
   * abort's reason as its signal when that is a string (`'SIGINT'`).
   */
  signal?: AbortSignal;
  /**
   * Longest wait for every slave's hello after start-up, in ms, on top of 3
   * heartbeat intervals and {@link READY_MS_PER_SLAVE} per slave. Default 15000.
   */
  readyTimeoutMs?: number;
}

/** What one run produced. */
export interface RunResult {
  runDir: string;
  info: RunInfo;
  /** One entry per event, in the order they finished. */
  timeline: TimelineEntry[];
  /** Every event was carried out and confirmed. */
  complete: boolean;
  /** The checker's report, with the cluster's warnings ({@link StartedCluster.warnings}) when there were any. */
  report: CheckReport;
}

/**
 * Runs one scenario: creates the run directory, brings the cluster up, waits
 * for every slave's hello in the master's log (that moment is t0), injects
 * each event at t0 + its offset, waits until t0 + duration, brings the cluster
 * down, writes `run.json`, then checks the run and writes its reports.
 *
 * Rejects with a `RunError` when the run could not be carried out at all (a
 * node that would not start, slaves that never said hello, an abort); a fault
 * that fails is recorded in `timeline.jsonl` and makes `complete` false.
 */
export async function runScenario(scenario: Scenario, options: RunOptions): Promise<RunResult> {
  const { backend, signal } = options;
  throwIfAborted(signal);
  const refusal = await backend.refusal(scenario);
  if (refusal !== undefined) throw new RunError('PICLUSTER_ERR_UNSUPPORTED_ACTION', refusal);
  const runDir = RunDirectory.create(scenario, options);
  const progress = new Progress(options.progress ?? process.stderr, scenario);
  const hellos = new HelloWatch();
  const sinks = {
    onMasterLine: (record: MasterLogLine): void => {
      const line = logLineOf(record, 'master');
      if (line === undefined) return;
      progress.count(line);
      hellos.see(line);
    },
  };
  const schedule = new Schedule(runDir, progress);
  const upAt = Date.now();
  let t0: number | undefined;
  let cluster: StartedCluster | undefined;
  const interruption = watchInterruption(signal);
  try {
    progress.start();
    cluster = await bringUp(backend, scenario, runDir, sinks, signal);
    const readyTimeoutMs =
      (options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS) +
      3 * scenario.heartbeatIntervalMs +
      READY_MS_PER_SLAVE * scenario.slaves;
    await hellos.all(Object.values(cluster.nodes), readyTimeoutMs, signal);
    t0 = Date.now();
    progress.running(t0);
    await schedule.run(cluster, scenario, t0, signal);
  } catch (err) {
    progress.finish(`${err instanceof Error ? err.message : String(err)}; stopping`);
    // The first error is the one to report; down() still stops everything when it rejects.
    await cluster?.down().catch(() => undefined);
    if (cluster !== undefined) {
      runDir.writeInfo({ ...runInfo(scenario, backend, cluster, t0 ?? upAt), interrupted: interruption() });
    }
    throw err;
  }

  progress.stopping();
  const info = await stopAndRecord(cluster, runDir, () => runInfo(scenario, backend, cluster, t0));

  progress.checking();
  let report: CheckReport;
  try {
    report = checkRun(await runDir.read());
    await writeReports(runDir.path, report);
  } finally {
    progress.done();
    progress.finish(`run directory ${runDir.path}`);
  }
  const { timeline } = schedule;
  const complete = timeline.every((entry) => entry.error === undefined);
  return { runDir: runDir.path, info, timeline, complete, report };
}

/**
 * Stops the cluster and writes `run.json`, also when `down()` rejects (a node's
 * log lost): the run directory then still says what ran, and the error is the
 * run's.
 */
async function stopAndRecord(cluster: StartedCluster, runDir: RunDirectory, infoOf: () => RunInfo): Promise<RunInfo> {
  const stopped = await cluster.down().then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  const info = infoOf();
  runDir.writeInfo(info);
  if (!stopped.ok) throw stopped.error;
  return info;
}

/** Carries out a scenario's events on a started cluster and records each in the timeline. */
class Schedule {
  /** One entry per event, in the order they finished. */
  readonly timeline: TimelineEntry[] = [];

  constructor(
    private readonly runDir: RunDirectory,
    private readonly progress: Progress,
  ) {}

  /**
   * Injects each event at t0 + its offset, waits until t0 + duration and for
   * every event begun. Events on one node run in order, each after the
   * previous one is confirmed; events on different nodes overlap, so a slow
   * stop (up to its SIGKILL grace) delays no other node.
   */
  async run(cluster: StartedCluster, scenario: Scenario, t0: number, signal: AbortSignal | undefined): Promise<void> {
    const chains = new Map<string, Promise<void>>();
    for (const event of scenario.events) {
      await waitUntil(t0 + event.atMs, signal);
      const requestedAt = new Date().toISOString();
      const chain = (chains.get(event.target) ?? Promise.resolve()).then(() =>
        this.carryOut(cluster, event, requestedAt),
      );
      chains.set(event.target, chain);
    }
    await waitUntil(t0 + scenario.durationMs, signal);
    await abortable(Promise.all(chains.values()), signal);
  }

  private async carryOut(cluster: StartedCluster, event: ScenarioEvent, requestedAt: string): Promise<void> {
    const entry: TimelineEntry = {
      action: event.action,
      target: event.target,
      atMs: event.atMs,
      ...(event.link === undefined ? {} : { link: event.link }),
      requestedAt,
      startedAt: new Date().toISOString(),
    };
    try {
      await cluster.apply(event);
      entry.confirmedAt = new Date().toISOString();
    } catch (err) {
      entry.error = err instanceof Error ? err.message : String(err);
    }
    this.timeline.push(entry);
    this.runDir.appendTimeline(entry);
    this.progress.eventDone(entry.error === undefined);
  }
}

/** `up()`, but an abort during start-up still brings down whatever came up. */
async function bringUp(
  backend: Backend,
  scenario: Scenario,
  runDir: RunDirectory,
  sinks: { onMasterLine(line: MasterLogLine): void },
  signal: AbortSignal | undefined,
): Promise<StartedCluster> {
  const up = backend.up(scenario, runDir, sinks);
  try {
    return await abortable(up, signal);
  } catch (err) {
    // Aborted before up() settled: take the cluster down once it is there.
    await up.then(
      (cluster) => cluster.down().catch(() => undefined),
      () => undefined,
    );
    throw err;
  }
}

function runInfo(scenario: Scenario, backend: Backend, cluster: StartedCluster, t0: number): RunInfo {
  return {
    scenario: scenario.name,
    backend: backend.name,
    startedAt: new Date(t0).toISOString(),
    endedAt: new Date().toISOString(),
    heartbeatIntervalMs: scenario.heartbeatIntervalMs,
    heartbeatTimeoutMs: heartbeatTimeoutOf(scenario),
    ...(scenario.detector === undefined ? {} : { detector: scenario.detector }),
    durationMs: scenario.durationMs,
    nodes: { ...cluster.nodes },
    ...(scenario.seed === undefined
      ? {}
      : {
          seed: scenario.seed,
          events: scenario.events.map(({ atMs, action, target, link }) => ({
            atMs,
            action,
            target,
            ...(link === undefined ? {} : { link }),
          })),
        }),
    ...(cluster.warnings.length > 0 ? { warnings: [...cluster.warnings] } : {}),
    ...(cluster.peakRss === undefined ? {} : { peakRss: cluster.peakRss }),
    ...(cluster.containerMemory === undefined ? {} : { containerMemory: cluster.containerMemory }),
  };
}

/**
 * Remembers when `signal` aborts; the returned function gives the interruption
 * to record (the signal's name when the caller aborted with one as its reason).
 */
function watchInterruption(signal: AbortSignal | undefined): () => RunInterruption | undefined {
  let at: number | undefined;
  signal?.addEventListener('abort', () => (at = Date.now()), { once: true });
  return () => {
    if (signal === undefined || !signal.aborted) return undefined;
    const reason: unknown = signal.reason;
    return {
      signal: typeof reason === 'string' ? reason : 'abort',
      at: new Date(at ?? Date.now()).toISOString(),
    };
  };
}

function abortError(): RunError {
  return new RunError('PICLUSTER_ERR_RUN_ABORTED', 'run aborted');
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

/** Settles like `promise`, or rejects with `PICLUSTER_ERR_RUN_ABORTED` as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError());
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Resolves at wall-clock time `atMs`, never before (a schedule, not a readiness wait). */
function waitUntil(atMs: number, signal: AbortSignal | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const reached = new Promise<void>((resolve) => {
    // Node's timers run on a monotonic millisecond clock that may fire 1 ms before Date.now() gets there.
    const check = (): void => {
      const leftMs = atMs - Date.now();
      if (leftMs <= 0) resolve();
      else timer = setTimeout(check, leftMs);
    };
    check();
  });
  return abortable(reached, signal).finally(() => clearTimeout(timer));
}

/** Watches the master's log for the hello of every slave. */
class HelloWatch {
  /** Node ids whose hello the master logged; kept from the first line, as hellos may precede `up()`'s return. */
  private readonly seen = new Set<string>();
  private missing = new Set<string>();
  private wake: (() => void) | undefined;

  see(line: ReadMasterLine): void {
    if (line.event !== 'message' || line.type !== 'hello' || line.node === undefined) return;
    this.seen.add(line.node);
    if (this.missing.delete(line.node) && this.missing.size === 0) this.wake?.();
  }

  /** Resolves once every one of `nodes` (node ids as the master logs them) has said hello. */
  async all(nodes: readonly string[], timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.missing = new Set(nodes.filter((node) => !this.seen.has(node)));
    if (this.missing.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      this.wake = resolve;
      timer = setTimeout(() => {
        const names = [...this.missing];
        const shown =
          names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
        reject(
          new RunError(
            'PICLUSTER_ERR_CLUSTER_NOT_READY',
            `the master logged no hello from ${shown} within ${timeoutMs} ms of start-up`,
          ),
        );
      }, timeoutMs);
    });
    try {
      await abortable(ready, signal);
    } finally {
      clearTimeout(timer);
      this.wake = undefined;
    }
  }
}

/** Elapsed time, events done and what the master logged: a live line on a TTY, one final line otherwise. */
class Progress {
  private readonly stream: ProgressStream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private t0: number | undefined;
  private phase = 'starting';
  private eventsDone = 0;
  private eventsFailed = 0;
  private messages = 0;
  private disconnects = 0;
  private finished = false;

  constructor(
    stream: ProgressStream | false,
    private readonly scenario: Scenario,
  ) {
    this.stream = stream === false ? undefined : stream;
  }

  start(): void {
    if (this.stream?.isTTY !== true) return;
    this.timer = setInterval(() => this.draw(), 250);
    this.timer.unref();
    this.draw();
  }

  running(t0: number): void {
    this.t0 = t0;
    this.phase = 'running';
  }

  stopping(): void {
    this.phase = 'stopping';
  }

  checking(): void {
    this.phase = 'checking';
  }

  done(): void {
    this.phase = 'done';
  }

  count(line: ReadMasterLine): void {
    if (line.event === 'message') this.messages += 1;
    else if (line.event === 'disconnect') this.disconnects += 1;
  }

  eventDone(ok: boolean): void {
    this.eventsDone += 1;
    if (!ok) this.eventsFailed += 1;
  }

  finish(note: string): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    if (this.stream === undefined) return;
    this.stream.write(`${this.stream.isTTY === true ? '\r\x1b[2K' : ''}${this.line()}; ${note}\n`);
  }

  private draw(): void {
    this.stream?.write(`\r\x1b[2K${this.line()}`);
  }

  private line(): string {
    const { name, durationMs, events } = this.scenario;
    const elapsedMs = this.t0 === undefined ? 0 : Math.min(Date.now() - this.t0, durationMs);
    const failed = this.eventsFailed > 0 ? ` (${this.eventsFailed} failed)` : '';
    return (
      `${name}: ${this.phase} ${(elapsedMs / 1000).toFixed(1)}s/${formatDuration(durationMs)}, ` +
      `events ${this.eventsDone}/${events.length}${failed}, ` +
      `master logged ${this.messages} messages, ${this.disconnects} disconnects`
    );
  }
}
