import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PiclusterError } from '../common';
import type { RunLogLine, RunRecord } from './checker';
import { ACTIONS, type RunInfo, type TimelineEntry } from './types';

/** Files of a run directory, as the runner writes them. */
export const RUN_FILES = {
  info: 'run.json',
  timeline: 'timeline.jsonl',
  master: 'master.jsonl',
  /**
   * The local backend's master also writes its log here (`--log-file`), to
   * read it back when it restarts; the checker reads `master.jsonl`.
   */
  masterLogFile: 'master-log-file.jsonl',
  /** `slave-3` -> `slave-3.jsonl`. */
  slave: (name: string): string => `${name}.jsonl`,
} as const;

/** A run directory that cannot be read or holds something malformed (`PICLUSTER_ERR_INVALID_RUN`). */
export class RunDirectoryError extends PiclusterError {
  override readonly name = 'RunDirectoryError';

  constructor(
    /** The file at fault, as a path. */
    readonly file: string,
    message: string,
    /** 1-based line in `file`, when one is at fault. */
    readonly line?: number,
    options?: { cause?: unknown },
  ) {
    super('PICLUSTER_ERR_INVALID_RUN', `${file}${line === undefined ? '' : `:${line}`}: ${message}`, options);
  }
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'missing' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new RunDirectoryError(file, `cannot read: ${why}`, undefined, { cause: err });
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isIso = (value: unknown): value is string => typeof value === 'string' && !Number.isNaN(Date.parse(value));

/** Parses JSON lines; blank lines are skipped, anything else that is not a JSON object is an error naming its line. */
function parseLines(file: string, text: string): Array<{ line: number; value: Record<string, unknown> }> {
  const out: Array<{ line: number; value: Record<string, unknown> }> = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      const shown = raw.length > 60 ? `${raw.slice(0, 60)}…` : raw;
      throw new RunDirectoryError(file, `not a JSON line: ${JSON.stringify(shown)}`, i + 1, { cause: err });
    }
    if (!isObject(value)) throw new RunDirectoryError(file, 'not a JSON object', i + 1);
    out.push({ line: i + 1, value });
  });
  return out;
}

function logLines(file: string, text: string): RunLogLine[] {
  return parseLines(file, text).map(({ line, value }) => {
    if (!isIso(value.timestamp)) throw new RunDirectoryError(file, 'no ISO "timestamp"', line);
    if (typeof value.event !== 'string') throw new RunDirectoryError(file, 'no "event"', line);
    return value as RunLogLine;
  });
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
  for (const name of Object.keys(nodes as object)) {
    // The name becomes a file name: nothing that could leave the directory.
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) problem('nodes', 'names like "slave-1"');
  }
  return value as unknown as RunInfo;
}

function timeline(file: string, text: string): TimelineEntry[] {
  return parseLines(file, text).map(({ line, value }) => {
    const bad = (what: string): never => {
      throw new RunDirectoryError(file, what, line);
    };
    if (!ACTIONS.includes(value.action as TimelineEntry['action']))
      bad(`unknown action ${JSON.stringify(value.action)}`);
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
 * Reads a run directory: `run.json`, `timeline.jsonl`, `master.jsonl` and a
 * `<name>.jsonl` per slave of `run.json`'s `nodes`. Throws a
 * {@link RunDirectoryError} naming the file (and line) of the first problem.
 */
export async function readRunDirectory(dir: string): Promise<RunRecord> {
  const infoFile = join(dir, RUN_FILES.info);
  const info = runInfo(infoFile, await readText(infoFile));
  const timelineFile = join(dir, RUN_FILES.timeline);
  const masterFile = join(dir, RUN_FILES.master);
  const names = Object.keys(info.nodes);
  const [timelineText, masterText, ...slaveTexts] = await Promise.all([
    readText(timelineFile),
    readText(masterFile),
    ...names.map((name) => readText(join(dir, RUN_FILES.slave(name)))),
  ]);
  const slaves: Record<string, RunLogLine[]> = {};
  names.forEach((name, i) => {
    slaves[name] = logLines(join(dir, RUN_FILES.slave(name)), slaveTexts[i] ?? '');
  });
  return {
    info,
    timeline: timeline(timelineFile, timelineText ?? ''),
    master: logLines(masterFile, masterText ?? ''),
    slaves,
  };
}
