import { PassThrough } from 'node:stream';
import { createLog, type Log } from '../../src/common';
import { LogLines } from './log-lines';

export type { LogLine } from './json-lines';

/** How long a wait for a line of an in-process logger lasts when the test does not say, in ms. */
const SINK_WAIT_MS = 5000;

/** A logger whose every line is parsed, so tests assert on fields, never on text layout. */
export class LogSink extends LogLines {
  readonly log: Log;

  constructor() {
    // Our logger writes JSON lines and nothing else: any other text fails the test.
    super(SINK_WAIT_MS, 'throw');
    const destination = new PassThrough();
    destination.setEncoding('utf8');
    destination.on('data', (text: string) => this.push(text));
    this.log = createLog({ destination });
  }
}
