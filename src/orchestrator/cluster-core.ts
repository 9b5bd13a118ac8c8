/**
 * What the local and the container clusters share: waiting for a log line,
 * polling until a state shows, each node's log file in the run directory, the
 * dispatch of an event to the backend's handler of its action, and a `down()`
 * that runs once, stops everything, and rejects only for a lost node log.
 */
import type { WriteStream } from 'node:fs';
import { faultFailed, RunError, type BackendSinks, type MasterLogLine, type StartedCluster } from './backend';
import type { RunDirectory } from './run-directory';
import type { Action, ScenarioEvent } from './types';

/** A wait for a line: settles once; `cancel` rejects it (with `err`, default "cancelled"). */
export interface LineWait {
  readonly line: Promise<MasterLogLine>;
  cancel(err?: Error): void;
}

interface Waiter {
  match: (line: MasterLogLine) => boolean;
  resolve: (line: MasterLogLine) => void;
  reject: (err: Error) => void;
}

/** Waits for log lines: each line seen is offered to every pending wait. */
export class LineWaiters {
  private readonly waiters = new Set<Waiter>();

  /** Settles every wait `line` matches. */
  see(line: MasterLogLine): void {
    for (const waiter of this.waiters) if (waiter.match(line)) waiter.resolve(line);
  }

  /** The first line from now on that matches; rejects with `timedOut()` after `timeoutMs`. */
  wait(match: (line: MasterLogLine) => boolean, timeoutMs: number, timedOut: () => Error): LineWait {
    let settle!: { resolve: (line: MasterLogLine) => void; reject: (err: Error) => void };
    const line = new Promise<MasterLogLine>((resolve, reject) => (settle = { resolve, reject }));
    // A wait that is cancelled never rejects unobserved.
    line.catch(() => undefined);
    const timer = setTimeout(() => waiter.reject(timedOut()), timeoutMs);
    const done = (): boolean => {
      clearTimeout(timer);
      return this.waiters.delete(waiter);
    };
    const waiter: Waiter = {
      match,
      resolve: (found) => void (done() && settle.resolve(found)),
      reject: (err) => void (done() && settle.reject(err)),
    };
    this.waiters.add(waiter);
    return { line, cancel: (err = new Error('cancelled')) => waiter.reject(err) };
  }

  /** Rejects every pending wait. */
  rejectAll(err: Error): void {
    for (const waiter of this.waiters) waiter.reject(err);
  }
}

/** How {@link pollUntil} polls. */
export interface PollOptions {
  timeoutMs: number;
  intervalMs: number;
  /** Why to stop polling at once (the node exited, the cluster shuts down), checked before each look. */
  stopIf?: () => string | undefined;
  /** What was last seen, for the timeout's message (` (state T)`). */
  lastSeen?: () => string;
  /** Who is polled, at the start of the timeout's message (`slave-1 `). */
  subject?: string;
}

/**
 * Calls `find` until it gives something, within `timeoutMs`: for states the
 * engine or the kernel applies asynchronously. Rejects with `not <what> after
 * <timeoutMs> ms`, after the subject if any.
 */
export async function pollUntil<T>(what: string, find: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const stop = options.stopIf?.();
    if (stop !== undefined) throw new Error(stop);
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) {
      throw new Error(`${options.subject ?? ''}not ${what} after ${options.timeoutMs} ms${options.lastSeen?.() ?? ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}

/** Each node's log file of the run directory, opened once, appended to by every incarnation. */
export class NodeLogs {
  private readonly files = new Map<string, WriteStream>();
  private lost: Error | undefined;

  constructor(private readonly runDir: RunDirectory) {}

  /** Opens node `name`'s log; rejects (`PICLUSTER_ERR_RUN_DIR`) when it cannot. */
  async open(name: string): Promise<WriteStream> {
    const file = await this.runDir.openNodeLog(name, (err) => (this.lost ??= err));
    this.files.set(name, file);
    return file;
  }

  /** Node `name`'s open log; throws for a node that has none. */
  get(name: string): WriteStream {
    const file = this.files.get(name);
    if (file === undefined) throw new Error(`no log file open for ${name}`);
    return file;
  }

  has(name: string): boolean {
    return this.files.has(name);
  }

  /** Ends every file; resolves once all are closed. */
  closeAll(): Promise<void> {
    return this.close([...this.files.keys()]);
  }

  /** Ends the files of the nodes `names`; resolves once they are closed. Each stays known: `get` finds it closed. */
  async close(names: readonly string[]): Promise<void> {
    await Promise.all(
      names.map(async (name) => {
        const file = this.get(name);
        if (file.closed) return;
        // A stream destroyed by a write error still emits that error, then `close`: waited for, so it counts.
        const closed = new Promise<void>((resolve) => file.once('close', () => resolve()));
        if (!file.destroyed) file.end();
        await closed;
      }),
    );
  }

  /** The error of a log a line could not be written to, as `down()` reports it. */
  lostError(): RunError | undefined {
    const lost = this.lost;
    if (lost === undefined) return undefined;
    return new RunError('PICLUSTER_ERR_RUN_DIR', `a node's log could not be written: ${lost.message}`, {
      cause: lost,
    });
  }
}

/**
 * A started cluster of any backend. A subclass names how it carries out each
 * action ({@link handlers}), which node an event acts on ({@link targetOf}),
 * how it starts ({@link launch}) and stops its nodes ({@link stopNodes}).
 */
export abstract class ClusterCore<Target> implements StartedCluster {
  readonly nodes: Record<string, string> = {};
  readonly warnings: string[] = [];
  /** The master's log lines, for the waits that confirm a start or a restart. */
  protected readonly masterLines = new LineWaiters();
  protected readonly logs: NodeLogs;
  /** Set once `down()` began: faults are refused, waits give up. */
  protected closing = false;
  private downing: Promise<void> | undefined;

  /**
   * How this backend carries out each action (ACTION_SPECS, actions.ts, says
   * what it means); each resolves once the action is confirmed.
   */
  protected abstract readonly handlers: Record<Action, (target: Target, event: ScenarioEvent) => Promise<void>>;

  protected constructor(
    protected readonly runDir: RunDirectory,
    protected readonly sinks: BackendSinks,
  ) {
    this.logs = new NodeLogs(runDir);
  }

  /** The node `event` acts on; throws a `RunError` when there is none. */
  protected abstract targetOf(event: ScenarioEvent): Target;

  /** What a handler's error message is prefixed with (a container's name). */
  protected abstract describe(target: Target): string;

  /** Starts the nodes; on failure {@link start} stops what it started. */
  protected abstract launch(): Promise<void>;

  /** Stops every node and reads its log to the end; never rejects (troubles go to {@link warnings}). */
  protected abstract stopNodes(): Promise<void>;

  /** The error `up()` rejects with when {@link launch} failed with `err`. */
  protected startError(err: unknown): unknown {
    return err;
  }

  /** Runs {@link launch}; when it fails, stops what was started, then rejects. */
  async start(): Promise<void> {
    try {
      await this.launch();
    } catch (err) {
      // The start-up failure is the error to report; down() stops everything even when it rejects.
      await this.down().catch(() => undefined);
      throw this.startError(err);
    }
  }

  async apply(event: ScenarioEvent): Promise<void> {
    if (this.closing) throw faultFailed(event, 'the cluster is shutting down');
    const target = this.targetOf(event);
    try {
      await this.handlers[event.action](target, event);
    } catch (err) {
      if (err instanceof RunError) throw err;
      throw faultFailed(event, `${this.describe(target)}${(err as Error).message}`, err);
    }
  }

  down(): Promise<void> {
    this.downing ??= this.teardown();
    return this.downing;
  }

  /** Passes a master line on to the runner and to the waits. */
  protected seeMasterLine(line: MasterLogLine): void {
    this.sinks.onMasterLine(line);
    this.masterLines.see(line);
  }

  /** One step of `down()`: a failure is recorded as a warning and the next step runs. */
  protected async step(what: string, action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
    } catch (err) {
      this.warnings.push(`${what}: ${(err as Error).message}`);
    }
  }

  private async teardown(): Promise<void> {
    this.closing = true;
    this.masterLines.rejectAll(new Error('the cluster is shutting down'));
    try {
      await this.stopNodes();
    } finally {
      await this.logs.closeAll();
      this.afterDown();
    }
    const broken = this.logs.lostError() ?? this.brokenBy();
    if (broken !== undefined) throw broken;
  }

  /**
   * Why the run cannot be judged although `down()` stopped every node: what
   * the backend itself runs beside the nodes failed. Asked at the end of `down()`.
   */
  protected brokenBy(): RunError | undefined {
    return undefined;
  }

  /** Runs at the end of `down()`, before a lost log is reported. */
  protected afterDown(): void {}
}
