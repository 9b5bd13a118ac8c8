import { PassThrough } from 'node:stream';
import { createLog, type Log } from '../../src/common';
import { pollUntil } from './wait';

export type LogLine = Record<string, unknown> & { event: string; message: string; timestamp: string; level: string };

/** Parses every line a log writes, so tests assert on fields, never on text layout. */
export class LogSink {
  readonly lines: LogLine[] = [];
  readonly log: Log;
  private rest = '';

  constructor() {
    const destination = new PassThrough();
    destination.setEncoding('utf8');
    destination.on('data', (text: string) => {
      const parts = (this.rest + text).split('\n');
      this.rest = parts.pop() ?? '';
      for (const part of parts) this.lines.push(JSON.parse(part) as LogLine);
    });
    this.log = createLog({ destination });
  }

  events(event: string, node?: string): LogLine[] {
    return this.lines.filter((line) => line.event === event && (node === undefined || line.node === node));
  }

  /** Resolves with the first line matching, waiting for it up to `timeoutMs`. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> {
    return pollUntil(
      () => this.lines.find(match),
      timeoutMs,
      () =>
        `last lines:\n${this.lines
          .slice(-8)
          .map((l) => JSON.stringify(l))
          .join('\n')}`,
    );
  }

  waitForEvent(event: string, fields: Record<string, unknown> = {}, timeoutMs?: number): Promise<LogLine> {
    return this.waitFor(
      (line) => line.event === event && Object.entries(fields).every(([key, value]) => line[key] === value),
      timeoutMs,
    );
  }
}
