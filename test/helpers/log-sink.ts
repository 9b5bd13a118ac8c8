import { PassThrough } from 'node:stream';
import { createLog, type Log } from '../../src/common';

export type LogLine = Record<string, unknown> & { event: string; message: string; timestamp: string; level: string };

/** Parses every line a log writes, so tests assert on fields, never on text layout. */
export class LogSink {
  readonly lines: LogLine[] = [];
  readonly log: Log;
  private rest = '';
  private waiters: Array<() => void> = [];

  constructor() {
    const destination = new PassThrough();
    destination.setEncoding('utf8');
    destination.on('data', (text: string) => {
      const parts = (this.rest + text).split('\n');
      this.rest = parts.pop() ?? '';
      for (const part of parts) this.lines.push(JSON.parse(part) as LogLine);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.log = createLog({ destination });
  }

  events(event: string, node?: string): LogLine[] {
    return this.lines.filter((line) => line.event === event && (node === undefined || line.node === node));
  }

  /** Resolves with the first line matching, waiting for it up to `timeoutMs`. */
  async waitFor(match: (line: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no matching log line within ${timeoutMs} ms; last lines:\n${this.lines
            .slice(-8)
            .map((l) => JSON.stringify(l))
            .join('\n')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  waitForEvent(event: string, fields: Record<string, unknown> = {}, timeoutMs?: number): Promise<LogLine> {
    return this.waitFor(
      (line) => line.event === event && Object.entries(fields).every(([key, value]) => line[key] === value),
      timeoutMs,
    );
  }
}
