import { readFileSync } from 'node:fs';

/**
 * The one JSON-lines reader of the tests (and of the fuzzer): every log line
 * a test, a fuzz run or a helper reads from a stream, a file or a process's
 * output is parsed by {@link parseJsonLine}. It reads timeline entries and
 * reports too, so it checks no event: the event waiter takes only the log
 * contract's event names (`LogEvent` in log-lines.ts), and
 * log-contract-lines.test.ts holds every line of a real master and slave to
 * the contract. Nothing here uses Jest: fuzz/ imports it too.
 */

/** A log line as the master and slaves write it: a JSON object with at least these fields. */
export type LogLine = Record<string, unknown> & { event: string; message: string; timestamp: string; level: string };

/**
 * What to do with a line that is not a JSON object: `'throw'` where the
 * source is ours and writes nothing else (a log file, a logger's
 * destination), `'skip'` where other text may come between the lines
 * (`--log-format text`, a container's output).
 */
export type NonJsonLines = 'throw' | 'skip';

/** Parses one line; undefined for a line that is not a JSON object (text, a blank line, a torn tail). */
export function parseJsonLine<L = LogLine>(text: string): L | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as L) : undefined;
  } catch {
    return undefined;
  }
}

/** Cuts text that comes in pieces into lines and hands on each JSON line once its `\n` has come. */
export class JsonLinesReader<L = LogLine> {
  private rest = '';

  constructor(
    private readonly onLine: (line: L) => void,
    private readonly nonJson: NonJsonLines = 'throw',
  ) {}

  /** Reads a piece of text; a line not ended yet waits for the next piece (or {@link end}). */
  push(text: string): void {
    const parts = (this.rest + text).split('\n');
    this.rest = parts.pop() ?? '';
    for (const part of parts) this.take(part);
  }

  /** Reads the last line of a source that is finished although it did not end it with `\n`. */
  end(): void {
    const rest = this.rest;
    this.rest = '';
    if (rest !== '') this.take(rest);
  }

  private take(text: string): void {
    const line = parseJsonLine<L>(text);
    if (line !== undefined) this.onLine(line);
    else if (this.nonJson === 'throw') throw new Error(`not a JSON line: ${JSON.stringify(text.slice(0, 200))}`);
  }
}

/** Options of {@link jsonLinesOf} and {@link readJsonLines}. */
export interface JsonLinesOptions {
  /** Lines that are not JSON objects: an error (default) or left out. */
  readonly nonJson?: NonJsonLines;
  /**
   * The text is still being written (a process's log file or stdout): a last
   * line without its `\n` is not read yet. Default false: the text is whole.
   */
  readonly growing?: boolean;
}

/** The JSON lines of a text, in order. */
export function jsonLinesOf<L = LogLine>(text: string, options: JsonLinesOptions = {}): L[] {
  const lines: L[] = [];
  const reader = new JsonLinesReader<L>((line) => lines.push(line), options.nonJson);
  reader.push(text);
  if (options.growing !== true) reader.end();
  return lines;
}

/** The JSON lines of a file as it is now. */
export function readJsonLines<L = LogLine>(file: string, options: JsonLinesOptions = {}): L[] {
  return jsonLinesOf<L>(readFileSync(file, 'utf8'), options);
}
