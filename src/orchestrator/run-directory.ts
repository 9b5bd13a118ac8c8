import {
  appendFileSync,
  closeSync,
  copyFileSync,
  createWriteStream,
  fstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { join, parse, resolve, sep } from 'node:path';
import { isAction } from './actions';
import { isDetectorSpec } from './scenario-detector';
import { RunError } from './errors';
import type { RunLog, RunLogLine, RunRecord, RunSource, Scenario } from './types';
import {
  isIso,
  isObject,
  jsonLines,
  logLines,
  openRegularFile,
  runLog,
  RunDirectoryError,
  type LogReadOptions,
} from './run-logs';
import type { RunInfo, TimelineEntry } from './types';

/** Files of a run directory, as the runner writes them. */
export const RUN_FILES = {
  info: 'run.json',
  timeline: 'timeline.jsonl',
  master: 'master.jsonl',
  /**
   * The local backend's master also writes its log here (`--log-file`), to
   * read it back when it restarts; the checker reads `master.jsonl`, which
   * the local backend replaces with a copy of this record once the nodes
   * have stopped (its stdout may have dropped lines: `log_dropped`).
   */
  masterLogFile: 'master-log-file.jsonl',
  /** `slave-3` -> `slave-3.jsonl`. */
  slave: (name: string): string => `${name}.jsonl`,
  /** A copy of the scenario the run carried out. */
  scenario: 'scenario.yaml',
  /** The run's cluster token (container backends: the Compose secret's file). */
  token: join('secrets', 'cluster_token'),
} as const;

export { RunDirectoryError };

/**
 * `mkdir -p` that fails at the first component it cannot create. Node's own
 * (`mkdirSync(dir, { recursive: true })`) spins forever, synchronously, under
 * `/proc`: `mkdir /proc/self/x` fails with ENOENT, so it creates the parent,
 * gets EEXIST, and tries the child again, without end; no signal handler can
 * run meanwhile. Here each component is made once, top down, and any error
 * but EEXIST on a directory is thrown.
 */
export function makeDirectories(dir: string): void {
  const absolute = resolve(dir);
  const { root } = parse(absolute);
  let current = root;
  for (const part of absolute
    .slice(root.length)
    .split(sep)
    .filter((p) => p !== '')) {
    current = join(current, part);
    try {
      mkdirSync(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!statSync(current).isDirectory()) {
        throw new Error(`${current} exists and is not a directory`, { cause: err });
      }
    }
  }
}

/** Most bytes `run.json` may have: 16 MiB, room for some 300,000 nodes. */
const MAX_RUN_INFO_BYTES = 16 * 1024 * 1024;

function readRunInfoText(file: string): string {
  const fd = openRegularFile(file);
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_RUN_INFO_BYTES) {
      throw new RunDirectoryError(file, `${size} bytes, more than the limit of ${MAX_RUN_INFO_BYTES} bytes`);
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function runInfo(file: string, text: string): RunInfo {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RunDirectoryError(file, `not JSON: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (!isObject(value)) throw new RunDirectoryError(file, 'not a JSON object');
  const problem = (field: string, expected: string): never => {
    throw new RunDirectoryError(
      file,
      `"${field}" must be ${expected}, got ${JSON.stringify(value[field]) ?? 'nothing'}`,
    );
  };
  if (typeof value.scenario !== 'string') problem('scenario', 'a string');
  if (!['local', 'docker', 'swarm'].includes(value.backend as string)) problem('backend', 'local, docker or swarm');
  for (const field of ['startedAt', 'endedAt']) if (!isIso(value[field])) problem(field, 'an ISO timestamp');
  for (const field of ['heartbeatIntervalMs', 'heartbeatTimeoutMs', 'durationMs']) {
    const n = value[field];
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) problem(field, 'a positive number of ms');
  }
  const nodes = value.nodes;
  if (!isObject(nodes) || !Object.values(nodes).every((id) => typeof id === 'string' && id !== '')) {
    problem('nodes', 'an object of slave name -> node id');
  }
  const interrupted = value.interrupted;
  if (
    interrupted !== undefined &&
    !(isObject(interrupted) && typeof interrupted.signal === 'string' && isIso(interrupted.at))
  ) {
    problem('interrupted', 'an object with "signal" (a string) and "at" (an ISO timestamp)');
  }
  const warnings = value.warnings;
  if (warnings !== undefined && !(Array.isArray(warnings) && warnings.every((w) => typeof w === 'string'))) {
    problem('warnings', 'an array of strings');
  }
  if (value.detector !== undefined && !isDetectorSpec(value.detector)) {
    problem('detector', '{ "kind": "fixed" } or { "kind": "phi" } with threshold, minStdDevMs and acceptablePauseMs');
  }
  for (const name of Object.keys(nodes as object)) {
    // The name becomes a file name: nothing that could leave the directory.
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) problem('nodes', 'names like "slave-1"');
  }
  return value as unknown as RunInfo;
}

function timeline(file: string): TimelineEntry[] {
  return Array.from(jsonLines(file), ({ line, value }) => {
    const bad = (what: string): never => {
      throw new RunDirectoryError(file, what, line);
    };
    if (!isAction(value.action)) bad(`unknown action ${JSON.stringify(value.action)}`);
    if (typeof value.target !== 'string') bad('no "target"');
    if (typeof value.atMs !== 'number') bad('no "atMs"');
    if (value.requestedAt !== undefined && !isIso(value.requestedAt)) bad('"requestedAt" is not ISO');
    if (!isIso(value.startedAt)) bad('no ISO "startedAt"');
    if (value.confirmedAt !== undefined && !isIso(value.confirmedAt)) bad('"confirmedAt" is not ISO');
    if (value.error !== undefined && typeof value.error !== 'string') bad('"error" is not a string');
    return value as unknown as TimelineEntry;
  });
}

/**
 * Heap the checker takes per byte of the slaves' logs, with room for the
 * garbage collector. It keeps about 21 bytes per `sent` line (a heartbeat's
 * line takes ~150) and nothing per line of the master's log but what a check
 * must explain (a message no `sent` line accounts for, a duplicate), so only
 * the slaves' logs count.
 */
export const CHECK_HEAP_PER_SLAVE_LOG_BYTE = 0.25;

/**
 * Refuses, in one line, logs the checker would run out of heap on: V8 aborts
 * the process when it does, after minutes, with no verdict and no message.
 */
function refuseBeyondMemory(dir: string, logBytes: number, slaveLogBytes: number, heapLimitBytes: number): void {
  const needed = slaveLogBytes * CHECK_HEAP_PER_SLAVE_LOG_BYTE;
  if (needed <= heapLimitBytes) return;
  const mib = (n: number): number => Math.ceil(n / 2 ** 20);
  throw new RunDirectoryError(
    dir,
    `its logs total ${mib(logBytes)} MiB; judging the slaves' ${mib(slaveLogBytes)} MiB takes about ${mib(needed)} ` +
      `MiB of heap, more than the ${mib(heapLimitBytes)} MiB this process may use ` +
      `(NODE_OPTIONS=--max-old-space-size=${mib(needed * 1.1)} allows it)`,
  );
}

/**
 * Reads a run directory: `run.json`, `timeline.jsonl`, `master.jsonl` and a
 * `<name>.jsonl` per slave of `run.json`'s `nodes`, every line in memory.
 * Throws a {@link RunDirectoryError} naming the file (and line) of the first
 * problem. {@link openRunDirectory} reads the logs only as they are checked.
 */
export async function readRunDirectory(dir: string): Promise<RunRecord> {
  const { info, timeline: entries, masterFile, slaveFiles } = openRun(dir);
  const slaves: Record<string, RunLogLine[]> = {};
  for (const [name, file] of slaveFiles) slaves[name] = Array.from(logLines(file));
  return Promise.resolve({ info, timeline: entries, master: Array.from(logLines(masterFile)), slaves });
}

/**
 * Opens a run directory for a check that streams its logs: reads `run.json`
 * and `timeline.jsonl`, makes sure `master.jsonl` and every slave's log can be
 * opened, and returns those logs, read through the log contract, as logs that
 * read their file again, a chunk at a time, each time they are read. A
 * malformed log line is found (a {@link RunDirectoryError}) only when it is
 * reached.
 */
export async function openRunDirectory(
  dir: string,
  options: LogReadOptions & { heapLimitBytes?: number } = {},
): Promise<RunSource> {
  const { info, timeline: entries, masterFile, slaveFiles } = openRun(dir, options);
  const slaves: Record<string, RunLog<'slave'>> = {};
  for (const [name, file] of slaveFiles) slaves[name] = runLog(file, 'slave', options);
  return Promise.resolve({ info, timeline: entries, master: runLog(masterFile, 'master', options), slaves });
}

/** Reads `run.json` and `timeline.jsonl` and makes sure every log can be opened and judged in memory. */
function openRun(
  dir: string,
  options: { heapLimitBytes?: number } = {},
): { info: RunInfo; timeline: TimelineEntry[]; masterFile: string; slaveFiles: Array<[string, string]> } {
  const infoFile = join(dir, RUN_FILES.info);
  const info = runInfo(infoFile, readRunInfoText(infoFile));
  const entries = timeline(join(dir, RUN_FILES.timeline));
  const masterFile = join(dir, RUN_FILES.master);
  const slaveFiles = Object.keys(info.nodes).map((name): [string, string] => [name, join(dir, RUN_FILES.slave(name))]);
  let logBytes = 0;
  let slaveLogBytes = 0;
  // One file at a time: thousands of slaves must not mean thousands of open files.
  for (const file of [masterFile, ...slaveFiles.map(([, f]) => f)]) {
    const fd = openRegularFile(file);
    const size = fstatSync(fd).size;
    closeSync(fd);
    logBytes += size;
    if (file !== masterFile) slaveLogBytes += size;
  }
  refuseBeyondMemory(dir, logBytes, slaveLogBytes, options.heapLimitBytes ?? getHeapStatistics().heap_size_limit);
  return { info, timeline: entries, masterFile, slaveFiles };
}

/** Where run directories go when no `outDir` is given, relative to the working directory. */
export const DEFAULT_RUNS_DIR = 'runs';

/** Where a run's directory goes: a given one (empty or new), or a new one under a parent. */
export interface RunDirectoryPlace {
  /** The run directory; created, and refused if it exists and is not empty. */
  outDir?: string;
  /** Parent of default run directories (`<yyyymmdd-hhmmss>-<scenario name>`). Default {@link DEFAULT_RUNS_DIR}. */
  runsDir?: string;
}

/** `yyyymmdd-hhmmss` in local time. */
function stamp(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}${two(date.getMonth() + 1)}${two(date.getDate())}-` +
    `${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`
  );
}

function claimDirectory(scenario: Scenario, place: RunDirectoryPlace): string {
  if (place.outDir !== undefined) {
    makeDirectories(place.outDir);
    // Node logs are appended to: an earlier run's files would mix with this one's.
    if (readdirSync(place.outDir).length > 0) {
      throw new RunError('PICLUSTER_ERR_RUN_DIR', `run directory ${place.outDir} is not empty`);
    }
    return place.outDir;
  }
  const parent = place.runsDir ?? DEFAULT_RUNS_DIR;
  makeDirectories(parent);
  const base = join(parent, `${stamp(new Date())}-${scenario.name}`);
  for (let n = 1; ; n += 1) {
    const dir = n === 1 ? base : `${base}-${n}`;
    try {
      // Not recursive: creating it is how this run claims the name, also against a run started in parallel.
      mkdirSync(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/**
 * A run directory, the one place that knows its layout ({@link RUN_FILES}):
 * the runner creates it and writes the scenario, the timeline and `run.json`;
 * a backend appends each node's log to it; the checker reads it back.
 */
export class RunDirectory {
  private constructor(
    /** The directory, as given or created. */
    readonly path: string,
  ) {}

  /** A run directory that exists (a test's temporary directory, one to check). */
  static at(path: string): RunDirectory {
    return new RunDirectory(path);
  }

  /**
   * Creates the run directory of `scenario` (`place.outDir`, empty or new, or
   * a new unique one under `place.runsDir`), with a copy of the scenario and
   * an empty timeline. Throws a `RunError` (`PICLUSTER_ERR_RUN_DIR`).
   */
  static create(scenario: Scenario, place: RunDirectoryPlace): RunDirectory {
    let dir: RunDirectory;
    try {
      dir = new RunDirectory(claimDirectory(scenario, place));
    } catch (err) {
      if (err instanceof RunError) throw err;
      throw new RunError('PICLUSTER_ERR_RUN_DIR', `cannot create the run directory: ${(err as Error).message}`, {
        cause: err,
      });
    }
    copyFileSync(scenario.file, dir.file(RUN_FILES.scenario));
    writeFileSync(dir.file(RUN_FILES.timeline), '');
    return dir;
  }

  /** The path of one of its files. */
  file(name: string): string {
    return join(this.path, name);
  }

  /** The log file of node `name` (`master`, `slave-3`), as the checker reads it. */
  nodeLogFile(name: string): string {
    return this.file(name === 'master' ? RUN_FILES.master : RUN_FILES.slave(name));
  }

  /** The run's token file (absolute: `docker stack deploy` reads it from its own working directory). */
  get tokenFile(): string {
    return resolve(this.path, RUN_FILES.token);
  }

  /**
   * Opens node `name`'s log for appending (a node's incarnations share it);
   * `onError` gets any error writing it. Resolves once it is open; rejects
   * with a `RunError` (`PICLUSTER_ERR_RUN_DIR`) when it cannot be.
   */
  async openNodeLog(name: string, onError: (err: Error) => void): Promise<WriteStream> {
    const path = this.nodeLogFile(name);
    const stream = createWriteStream(path, { flags: 'a' });
    const opened = new Promise<void>((resolveOpen, reject) => {
      stream.once('open', () => resolveOpen());
      stream.once('error', reject);
    });
    try {
      await opened;
    } catch (err) {
      throw new RunError('PICLUSTER_ERR_RUN_DIR', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
    stream.on('error', (err) => onError(new Error(`${path}: ${err.message}`, { cause: err })));
    return stream;
  }

  /** Appends one line to `timeline.jsonl`. */
  appendTimeline(entry: TimelineEntry): void {
    appendFileSync(this.file(RUN_FILES.timeline), JSON.stringify(entry) + '\n');
  }

  /** Writes `run.json`. */
  writeInfo(info: RunInfo): void {
    writeFileSync(this.file(RUN_FILES.info), JSON.stringify(info, null, 2) + '\n');
  }

  /** Opens it for a check ({@link openRunDirectory}). */
  read(options?: LogReadOptions & { heapLimitBytes?: number }): Promise<RunSource> {
    return openRunDirectory(this.path, options);
  }
}
