/**
 * Reading a run's JSON-lines logs a line at a time. A soak run's
 * `master.jsonl` can be gigabytes: read whole, it would not even fit in a
 * string (V8 caps one at 512 MiB). Here a file is read in fixed-size chunks
 * through one descriptor, split on newlines as bytes (0x0A never occurs inside
 * a UTF-8 sequence, so each line decodes on its own), and each line is parsed
 * and handed on; nothing of it is kept unless the consumer keeps it.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { fileKind, PiclusterError } from '../common';
import { readLogRecord, type LogSource } from '../protocol';
import type { RunLog, RunLogEntry, RunLogLine } from './types';

/** Bytes read from a log per `read`, by default (1 MiB). */
export const DEFAULT_LOG_CHUNK_BYTES = 1024 * 1024;

/**
 * Longest line a log may hold, in bytes (16 MiB): far above any line a node
 * writes (a frame is at most 64 KiB), and a bound on what one line can cost.
 */
export const MAX_LOG_LINE_BYTES = 16 * 1024 * 1024;

/** How a log is read. */
export interface LogReadOptions {
  /** Bytes per read. Default {@link DEFAULT_LOG_CHUNK_BYTES}. */
  chunkBytes?: number;
  /** Longest line accepted, in bytes. Default {@link MAX_LOG_LINE_BYTES}. */
  maxLineBytes?: number;
}

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

function cannotRead(file: string, err: unknown): RunDirectoryError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'missing' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
  return new RunDirectoryError(file, `cannot read: ${why}`, undefined, { cause: err });
}

/**
 * Opens a regular file for reading. Without blocking: opening a FIFO would
 * otherwise wait for a writer forever; `fstat` on the descriptor then refuses
 * anything but a regular file.
 */
export function openRegularFile(file: string): number {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw cannotRead(file, err);
  }
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw new RunDirectoryError(file, 'cannot read: is a directory');
    if (!stats.isFile()) throw new RunDirectoryError(file, `cannot read: is ${fileKind(stats)}, not a regular file`);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err instanceof RunDirectoryError ? err : cannotRead(file, err);
  }
}

/**
 * Every line of `file`, decoded, with its 1-based number; the last one even
 * without a final newline. Memory: one chunk plus the longest line.
 */
export function* textLines(file: string, options: LogReadOptions = {}): Generator<{ line: number; text: string }> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_LOG_CHUNK_BYTES;
  const maxLineBytes = options.maxLineBytes ?? MAX_LOG_LINE_BYTES;
  const fd = openRegularFile(file);
  try {
    const chunk = Buffer.alloc(chunkBytes);
    // The start of a line that did not end in the chunks read so far.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let line = 0;
    const tooLong = (): RunDirectoryError =>
      new RunDirectoryError(file, `line longer than ${maxLineBytes} bytes`, line + 1);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunkBytes, null);
      } catch (err) {
        throw cannotRead(file, err);
      }
      if (n === 0) break;
      let start = 0;
      for (let nl = chunk.indexOf(0x0a, 0); nl !== -1 && nl < n; nl = chunk.indexOf(0x0a, start)) {
        if (pendingBytes + nl - start > maxLineBytes) throw tooLong();
        const text =
          pendingBytes === 0
            ? chunk.toString('utf8', start, nl)
            : Buffer.concat([...pending, chunk.subarray(start, nl)]).toString('utf8');
        pending = [];
        pendingBytes = 0;
        line += 1;
        yield { line, text };
        start = nl + 1;
      }
      if (start < n) {
        if (pendingBytes + n - start > maxLineBytes) throw tooLong();
        // A copy: the chunk is overwritten by the next read.
        pending.push(Buffer.from(chunk.subarray(start, n)));
        pendingBytes += n - start;
      }
    }
    if (pendingBytes > 0) yield { line: line + 1, text: Buffer.concat(pending).toString('utf8') };
  } finally {
    closeSync(fd);
  }
}

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The last timestamp {@link isoMs} parsed, and its value. */
let lastIso: string | undefined;
let lastIsoMs = NaN;

/**
 * A timestamp in ms since the epoch; NaN when it is no ISO string. The reader
 * checks each line's timestamp and hands the line on, and the checker reads
 * the same timestamp right after: remembering the last one parses each line's
 * timestamp once per reading.
 */
export function isoMs(value: unknown): number {
  if (typeof value !== 'string') return NaN;
  if (value !== lastIso) {
    lastIsoMs = Date.parse(value);
    lastIso = value;
  }
  return lastIsoMs;
}

export const isIso = (value: unknown): value is string => !Number.isNaN(isoMs(value));

/** Every JSON object of a JSON-lines file; blank lines are skipped, anything else is an error naming its line. */
export function* jsonLines(
  file: string,
  options: LogReadOptions = {},
): Generator<{ line: number; value: Record<string, unknown> }> {
  for (const { line, text } of textLines(file, options)) {
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
      throw new RunDirectoryError(file, `not a JSON line: ${JSON.stringify(shown)}`, line, { cause: err });
    }
    if (!isObject(value)) throw new RunDirectoryError(file, 'not a JSON object', line);
    yield { line, value };
  }
}

/**
 * Fields whose values repeat on nearly every line (`event`, a slave's
 * heartbeat text, its node id, the message type): one string each, shared by
 * every line that holds it, instead of a copy per parsed line. Bounded, so a
 * log of unique texts costs no more than it did.
 */
const SHARED_FIELDS = ['event', 'message', 'node', 'type', 'reason', 'level'] as const;
const MAX_SHARED_STRINGS = 100_000;
const MAX_SHARED_LENGTH = 200;

class StringPool {
  private readonly pool = new Map<string, string>();

  share(value: string): string {
    const known = this.pool.get(value);
    if (known !== undefined) return known;
    if (this.pool.size < MAX_SHARED_STRINGS && value.length <= MAX_SHARED_LENGTH) this.pool.set(value, value);
    return value;
  }
}

/**
 * The lines of a node's log, each checked to have an ISO `timestamp` and an
 * `event`. Iterable as often as wanted: each iteration reads the file again.
 */
export function logLines(file: string, options: LogReadOptions = {}): Iterable<RunLogLine> {
  return {
    *[Symbol.iterator]() {
      const pool = new StringPool();
      for (const { line, value } of jsonLines(file, options)) {
        if (!isIso(value.timestamp)) throw new RunDirectoryError(file, 'no ISO "timestamp"', line);
        if (typeof value.event !== 'string') throw new RunDirectoryError(file, 'no "event"', line);
        for (const field of SHARED_FIELDS) {
          const v = value[field];
          if (typeof v === 'string') value[field] = pool.share(v);
        }
        yield value as RunLogLine;
      }
    },
  };
}

/**
 * Each record read through the log contract. {@link logLines} lets only
 * objects with an `event` through; a line in memory that is none is read as a
 * line of an event this version does not know, which the checker passes over.
 */
function contractLines<S extends LogSource>(records: Iterable<RunLogLine>, source: S): Iterable<RunLogEntry<S>> {
  return {
    *[Symbol.iterator]() {
      for (const record of records) {
        const read = readLogRecord(record, source);
        yield read.kind === 'not_a_log_line' ? { kind: 'unknown', record } : read;
      }
    },
  };
}

/**
 * `source`'s log in `file`, each line checked as {@link logLines} does and
 * read through the log contract. Each reading reads the file again.
 */
export function runLog<S extends LogSource>(file: string, source: S, options: LogReadOptions = {}): RunLog<S> {
  const lines = contractLines(logLines(file, options), source);
  return { source, lines: () => lines };
}

const isRunLog = <S extends LogSource>(log: RunLog<S> | Iterable<RunLogLine>): log is RunLog<S> =>
  'lines' in log && typeof log.lines === 'function';

/**
 * The lines of `source`'s log read through the log contract: as the reader
 * read them, or, for lines in memory, each read through it now. Iterable as
 * often as `log` is.
 */
export function readRunLog<S extends LogSource>(
  log: RunLog<S> | Iterable<RunLogLine>,
  source: S,
): Iterable<RunLogEntry<S>> {
  return isRunLog(log) ? log.lines() : contractLines(log, source);
}
