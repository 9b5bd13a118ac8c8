import { once } from 'node:events';
import { closeSync, createWriteStream, fstatSync, openSync, readSync } from 'node:fs';
import type { Writable } from 'node:stream';
import winston from 'winston';
import { escapeControl } from './errors';
import Transport from 'winston-transport';

/** Every field of a log line goes through this: JSON lines are the contract. */
export interface LogFields {
  event: string;
  message: string;
  level?: 'error' | 'warn' | 'info' | 'debug';
  [field: string]: unknown;
}

export type LogFormat = 'json' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text'];

export interface LoggerOptions {
  /** `json` (default): one JSON object a line. `text`: for people. */
  format?: LogFormat;
  /** Also append every line to this file. */
  file?: string;
  /** Where lines go; default `process.stdout`. */
  destination?: Writable;
  /** Lines below this level are dropped. Default `info`. */
  level?: string;
  /**
   * With `file`, the file is the record (what `whenWritten`, hence acks, wait
   * for) and stdout is for watching: when its reader falls this many bytes
   * behind, further lines are dropped from stdout only, and a `log_dropped`
   * line counts them once it has caught up. Memory stays bounded and a stalled
   * `docker logs` holds up nothing. Default 8 MiB. Without a file, stdout is
   * the record: nothing is dropped.
   */
  stdoutBacklogLimitBytes?: number;
}

export const DEFAULT_STDOUT_BACKLOG_LIMIT_BYTES = 8 * 1024 * 1024;

/**
 * A winston logger plus the one way to stop it without losing a line.
 * `Line` narrows what `write` takes: the master and the slave use their
 * log contract's lines (`MasterLogWrite`, `SlaveLogWrite`).
 */
export interface Log<Line extends LogFields = LogFields> {
  readonly winston: winston.Logger;
  write(fields: Line): void;
  /**
   * Calls back once every line written so far has been handed to every
   * destination that is a record (the OS has it: a file keeps it even if the
   * process is then killed): the file when there is one, else stdout. A
   * destination that failed counts as done.
   */
  whenWritten(callback: () => void): void;
  /**
   * Bytes handed to a record destination that it has not taken yet (a slow
   * disk, a slow reader of a stdout that is the record), for the one furthest
   * behind; 0 while every one keeps up.
   */
  readonly backlogBytes: number;
  /**
   * Writes out every buffered line on every transport, then closes them;
   * waits at most `graceMs` for destinations that do not take them (a reader
   * of stdout that stopped reading). Resolves with the names of those that
   * did not take everything. Idempotent.
   */
  close(graceMs?: number): Promise<string[]>;
}

const MESSAGE = Symbol.for('message');
const LEVEL = Symbol.for('level');
const LEAD_FIELDS = new Set(['timestamp', 'level', 'event', 'message']);
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

let cachedMs = 0;
let cachedIso = '';
/** `toISOString` is a large share of a line's cost at 300k lines/s; a line per ms shares one. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== cachedMs) {
    cachedMs = ms;
    cachedIso = new Date(ms).toISOString();
  }
  return cachedIso;
}

function jsonValue(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      try {
        return JSON.stringify(value);
      } catch {
        return JSON.stringify(String(value));
      }
  }
}

type Info = winston.Logform.TransformableInfo & Record<string | symbol, unknown>;

/**
 * The documented line layout: `timestamp`, `level`, `event`, `message` first,
 * then the event's own fields. Written by hand rather than with `format.json()`
 * because it is on the master's hot path (see the ingest benchmark).
 */
const jsonLineFormat = winston.format((info: Info) => {
  const timestamp = typeof info.timestamp === 'string' ? info.timestamp : isoNow();
  let line =
    '{"timestamp":"' +
    timestamp +
    '","level":' +
    JSON.stringify(info.level) +
    ',"event":' +
    (jsonValue(info.event) ?? '"log"') +
    ',"message":' +
    (jsonValue(info.message) ?? '""');
  for (const key in info) {
    if (LEAD_FIELDS.has(key)) continue;
    const value = jsonValue(info[key]);
    if (value !== undefined) line += ',' + JSON.stringify(key) + ':' + value;
  }
  info[MESSAGE] = line + '}';
  return info;
});

const textLineFormat = winston.format((info: Info) => {
  // A peer's text must not start a line of its own, nor reorder the terminal's line (U+202E).
  const message = escapeControl(
    String(info.message).replace(CONTROL_CHARACTERS, (c) => JSON.stringify(c).slice(1, -1)),
  );
  let line = `${typeof info.timestamp === 'string' ? info.timestamp : isoNow()} ${info.level.padEnd(5)} ${String(info.event ?? 'log').padEnd(10)} ${message}`;
  for (const key in info) {
    if (LEAD_FIELDS.has(key)) continue;
    const value = jsonValue(info[key]);
    if (value !== undefined) line += ` ${key}=${escapeControl(value)}`;
  }
  info[MESSAGE] = line;
  return info;
});

/**
 * A winston transport that hands lines to a stream in batches: one write per
 * turn of the event loop instead of one per line, which is what lets the
 * master log a few hundred thousand lines a second. Buffered lines are written
 * out by `_final`, so ending the logger loses none of them.
 */
class BatchingLineTransport extends Transport {
  private pending = '';
  private scheduled = false;
  /** Set when the destination failed (a closed pipe, a full disk): its lines are dropped from then on. */
  private failed = false;
  /** Writes handed to the destination, and those whose callback ran (they complete in order). */
  private writesStarted = 0;
  private writesDone = 0;
  /** `whenWritten` callbacks, each waiting for the write it came after. */
  private waiters: Array<{ write: number; callback: () => void }> = [];
  /** Lines dropped since the destination fell `backlogLimit` behind. */
  private dropped = 0;

  constructor(
    private readonly destination: Writable,
    private readonly ownsDestination: boolean,
    readonly name: string,
    /** Set for a destination that is not the record: beyond this backlog, its lines are dropped. */
    private readonly backlogLimit?: number,
    /** Called once the destination has caught up after dropping lines, with how many. */
    private readonly onCaughtUp?: (lines: number) => void,
  ) {
    super();
    // Not re-emitted: an error event reaching winston would crash the process, and a
    // master whose stdout reader went away must go on serving (and logging to LOG_FILE).
    this.destination.on('error', (err: NodeJS.ErrnoException) => {
      if (this.failed) return;
      this.failed = true;
      this.pending = '';
      this.runWaiters();
      process.stderr.write(
        `picluster: cannot write log lines to ${this.name} (${err.code ?? err.message}); dropping them\n`,
      );
    });
  }

  /** Whether `whenWritten` waits for this destination: it is a record, not only for watching. */
  get isRecord(): boolean {
    return this.backlogLimit === undefined;
  }

  override log(info: Info, callback: () => void): void {
    if (this.failed) {
      callback();
      return;
    }
    if (this.backlogLimit !== undefined && this.destination.writableLength > this.backlogLimit) {
      this.dropped += 1;
      callback();
      return;
    }
    this.pending += (info[MESSAGE] as string) + '\n';
    if (this.pending.length >= 65536) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    callback();
  }

  /** Bytes written to the destination and not taken by it yet; 0 once it failed (its lines are dropped). */
  get backlogBytes(): number {
    return this.failed ? 0 : this.destination.writableLength;
  }

  /**
   * Calls back once every line received so far has reached the destination:
   * with the callback of the last write so far, not with a write of its own
   * (acks ask for this every turn of the event loop), and not waiting for
   * the writes that follow it.
   */
  whenWritten(callback: () => void): void {
    this.flush();
    if (this.failed || this.writesDone === this.writesStarted) callback();
    else this.waiters.push({ write: this.writesStarted, callback });
  }

  private flush(): void {
    this.scheduled = false;
    if (this.pending === '' || this.failed) return;
    const chunk = this.pending;
    this.pending = '';
    const write = ++this.writesStarted;
    this.destination.write(chunk, () => {
      this.writesDone = write;
      this.runWaiters();
      if (this.dropped > 0 && this.destination.writableLength <= this.backlogLimit! / 2) {
        const lines = this.dropped;
        this.dropped = 0;
        this.onCaughtUp?.(lines);
      }
    });
  }

  /** Runs the callbacks whose write is done (all of them once the destination failed). */
  private runWaiters(): void {
    // Waiters are queued in write order: the due ones lead.
    let count = 0;
    while (count < this.waiters.length && (this.failed || this.waiters[count]!.write <= this.writesDone)) count++;
    for (const waiter of this.waiters.splice(0, count)) waiter.callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.flush();
    if (this.failed) {
      callback();
    } else if (this.ownsDestination) {
      this.destination.end(() => callback());
    } else {
      this.whenWritten(() => callback());
    }
  }
}

/**
 * Whether a log file ends in the middle of a line (a process killed while
 * writing it): the first line appended must then start on a line of its own.
 */
function endsTorn(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] !== 0x0a;
  } catch {
    return false; // no file yet, or one we cannot read: the append says so
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** One factory for every component's logger. */
export function createLog(options: LoggerOptions = {}): Log {
  const format = options.format === 'text' ? textLineFormat() : jsonLineFormat();
  const stdoutLimit =
    options.file === undefined ? undefined : (options.stdoutBacklogLimitBytes ?? DEFAULT_STDOUT_BACKLOG_LIMIT_BYTES);
  const transports: BatchingLineTransport[] = [
    new BatchingLineTransport(options.destination ?? process.stdout, false, 'stdout', stdoutLimit, (lines) =>
      write({
        event: 'log_dropped',
        level: 'warn',
        message: `${lines} log lines not written to stdout: its reader fell ${stdoutLimit} bytes behind`,
        destination: 'stdout',
        lines,
      }),
    ),
  ];
  if (options.file !== undefined) {
    const torn = endsTorn(options.file);
    const file = createWriteStream(options.file, { flags: 'a' });
    if (torn) file.write('\n');
    transports.push(new BatchingLineTransport(file, true, options.file));
  }
  const records = transports.filter((transport) => transport.isRecord);
  const logger = winston.createLogger({
    level: options.level ?? 'info',
    format,
    transports,
    exitOnError: false,
  });
  let closing: Promise<string[]> | undefined;
  function write(fields: LogFields): void {
    const info = fields as unknown as Info;
    if (info.level === undefined) info.level = 'info';
    info[LEVEL] = info.level;
    logger.write(info);
  }
  return {
    winston: logger,
    write,
    whenWritten(callback: () => void): void {
      if (closing !== undefined) {
        void closing.then(callback);
        return;
      }
      let waiting = records.length;
      for (const transport of records) {
        transport.whenWritten(() => {
          waiting -= 1;
          if (waiting === 0) callback();
        });
      }
    },
    get backlogBytes(): number {
      let most = 0;
      for (const transport of records) most = Math.max(most, transport.backlogBytes);
      return most;
    },
    close(graceMs = Infinity): Promise<string[]> {
      closing ??= (async () => {
        const done = new Set<BatchingLineTransport>();
        const finished = Promise.all(
          transports.map((transport) => once(transport, 'finish').then(() => done.add(transport))),
        );
        logger.end();
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((resolve) => {
          if (Number.isFinite(graceMs)) timer = setTimeout(resolve, graceMs);
        });
        await Promise.race([finished, grace]);
        clearTimeout(timer);
        return transports.filter((transport) => !done.has(transport)).map((transport) => transport.name);
      })();
      return closing;
    },
  };
}
