import type { MasterEvent, SlaveEvent } from '../../src/protocol';
import { JsonLinesReader, type LogLine, type NonJsonLines } from './json-lines';
import { describeCheck } from './wait';

/**
 * An event of the log contract (docs/log-contract.md): a test that waits for
 * or counts a misspelt event does not compile.
 */
export type LogEvent = MasterEvent | SlaveEvent | TestMarker;

/** The line a unit test logs itself to prove that the path to its sink was live. */
export type TestMarker = 'marker';

/** The lines a waiter's failure shows, the last ones read. */
const SHOWN_LINES = 10;

/**
 * The log lines of one source (a logger, a process's stdout, a container, a
 * backend's line sink) as they come, and the one event waiter of the tests:
 * {@link LogLines.waitFor} resolves when the line comes, not at the next
 * poll, and a wait that times out names what it waited for and shows the
 * last lines read.
 */
export class LogLines<L extends Record<string, unknown> & { event: string } = LogLine> {
  readonly lines: L[] = [];
  private readonly reader: JsonLinesReader<L>;
  private readonly watchers = new Set<(line: L, index: number) => void>();

  /**
   * @param waitMs how long a wait lasts when the caller does not say, in ms
   * @param nonJson what to do with text that is not a JSON line (see {@link NonJsonLines})
   */
  constructor(
    private readonly waitMs: number,
    nonJson: NonJsonLines = 'throw',
  ) {
    this.reader = new JsonLinesReader<L>((line) => this.add(line), nonJson);
  }

  /** Reads a piece of the source's text: each line is added once its `\n` has come. */
  push(text: string): void {
    this.reader.push(text);
  }

  /** Adds a line parsed elsewhere (a backend's `onMasterLine`). */
  add(line: L): void {
    this.lines.push(line);
    const index = this.lines.length - 1;
    for (const watcher of [...this.watchers]) watcher(line, index);
  }

  /** The lines of `event` (of `node`, if given), so far. */
  events(event: LogEvent, node?: string): L[] {
    return this.lines.filter((line) => line.event === event && (node === undefined || line.node === node));
  }

  /**
   * Resolves with the first line from index `from` on that matches, read
   * already or to come; rejects after `timeoutMs`. `match` is asked about each
   * line as it comes, so it may count lines read so far.
   */
  waitFor(match: (line: L) => boolean, timeoutMs = this.waitMs, from = 0): Promise<L> {
    return this.waitForLine(match, timeoutMs, from, `a line ${describeCheck(match)}`);
  }

  /** Resolves with the first line of `event` whose fields have the values `fields` gives. */
  waitForEvent(event: LogEvent, fields: Record<string, unknown> = {}, timeoutMs = this.waitMs): Promise<L> {
    return this.waitForLine(
      (line) => line.event === event && Object.entries(fields).every(([key, value]) => line[key] === value),
      timeoutMs,
      0,
      `event "${event}"${Object.keys(fields).length === 0 ? '' : ` with ${JSON.stringify(fields)}`}`,
    );
  }

  /** More to show when a wait fails, besides the last lines (a process's stderr). */
  protected waitContext(): string {
    return '';
  }

  private waitForLine(match: (line: L) => boolean, timeoutMs: number, from: number, what: string): Promise<L> {
    for (let i = from; i < this.lines.length; i++) if (match(this.lines[i]!)) return Promise.resolve(this.lines[i]!);
    // Made here, so that a timeout's stack shows the test line that waited, not a timer.
    const waitedAt = new Error('waited here');
    return new Promise<L>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
      };
      const watcher = (line: L, index: number): void => {
        try {
          if (index < from || !match(line)) return;
          done();
          resolve(line);
        } catch (err) {
          done();
          reject(err as Error);
        }
      };
      const timer = setTimeout(() => {
        done();
        const error = new Error(`waited ${timeoutMs} ms for ${what}; ${this.lastLines()}${this.waitContext()}`);
        error.stack = `${error.name}: ${error.message}\n${waitedAt.stack?.split('\n').slice(1).join('\n') ?? ''}`;
        reject(error);
      }, timeoutMs);
      this.watchers.add(watcher);
    });
  }

  private lastLines(): string {
    const shown = this.lines.slice(-SHOWN_LINES).map((line) => JSON.stringify(line));
    return `${this.lines.length} lines read, the last ${shown.length}:\n${shown.join('\n')}`;
  }
}
