import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { createLog, type Log } from '../../src/common';
import { Master } from '../../src/master';
import { LOG_EVENTS, fieldsOf, parseLogLine, type LogSource } from '../../src/protocol';
import { Slave } from '../../src/slave';

/** A log whose lines are kept as text, and waited on as they come. */
class TextSink {
  readonly lines: string[] = [];
  readonly log: Log;
  private waiters: Array<() => void> = [];

  constructor() {
    const destination = new PassThrough();
    let rest = '';
    destination.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      this.lines.push(...parts);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.log = createLog({ destination });
  }

  /** Resolves once a line of `event` has been written. */
  async waitForEvent(event: string): Promise<void> {
    while (!this.lines.some((line) => (JSON.parse(line) as { event: string }).event === event)) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

/**
 * Each line is of an event of the contract, each field of the documented
 * type, each field without `?` there, and the fields in the order the
 * contract gives (a line has a subsequence of them).
 */
function expectContractLines(lines: readonly string[], source: LogSource): Set<string> {
  const seen = new Set<string>();
  for (const text of lines) {
    const parsed = parseLogLine(text, source);
    expect({ text, kind: parsed.kind }).toEqual({ text, kind: 'line' });
    if (parsed.kind !== 'line') continue;
    expect({ text, invalid: parsed.invalidFields }).toEqual({ text, invalid: [] });
    const { event } = parsed.line;
    seen.add(event);
    const fields = fieldsOf(source, event);
    const order = ['timestamp', 'level', 'event', 'message', ...fields.map((field) => field.replace(/\?$/, ''))];
    const keys = Object.keys(parsed.record);
    expect({ text, keys }).toEqual({ text, keys: order.filter((key) => keys.includes(key)) });
    const required = ['timestamp', 'level', 'message', ...fields.filter((field) => !field.endsWith('?'))];
    expect({ text, missing: required.filter((key) => !keys.includes(key)) }).toEqual({ text, missing: [] });
  }
  return seen;
}

describe('the lines the master and a slave write', () => {
  it('are the lines of the log contract, fields in the documented order', async () => {
    const masterLog = new TextSink();
    const slaveLog = new TextSink();
    const master = await new Master({ port: 0, host: '127.0.0.1', maxProtocolErrors: 2 }, masterLog.log).start();
    const slave = new Slave(
      { masterHost: '127.0.0.1', masterPort: master.port, node: 'contract-1', heartbeatIntervalMs: 1000 },
      slaveLog.log,
    ).start();
    try {
      // A peer that sends two bad frames: a protocol_error line, then its disconnect.
      const peer = connect(master.port, '127.0.0.1');
      peer.on('error', () => undefined);
      peer.write('{"type":\r[1]\r');
      await masterLog.waitForEvent('protocol_error');
      await masterLog.waitForEvent('disconnect');
      await slaveLog.waitForEvent('sent');
      await masterLog.waitForEvent('message');
      peer.destroy();
    } finally {
      await slave.stop();
      await master.stop('SIGTERM');
      await Promise.all([masterLog.log.close(), slaveLog.log.close()]);
    }

    // At least these; a machine busy enough to time the slave out adds lines that must be the contract's too.
    const masterEvents = expectContractLines(masterLog.lines, 'master');
    expect([...masterEvents]).toEqual(
      expect.arrayContaining(['connect', 'disconnect', 'listening', 'message', 'protocol_error', 'shutdown']),
    );
    const slaveEvents = expectContractLines(slaveLog.lines, 'slave');
    expect([...slaveEvents]).toEqual(
      expect.arrayContaining(['connected', 'connecting', 'sent', 'starting', 'stopped']),
    );
    expect(Object.keys(LOG_EVENTS.master)).toEqual(expect.arrayContaining([...masterEvents]));
  });
});
