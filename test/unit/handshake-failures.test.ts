import type { Socket } from 'node:net';
import { HANDSHAKE_FAILURES_WINDOW_MS, HandshakeFailures } from '../../src/master/handshake-failures';
import { FakeClock } from '../helpers/fake-clock';
import { LogSink } from '../helpers/log-sink';

const peer = (port: number): Socket => ({ remoteAddress: '::ffff:10.0.0.7', remotePort: port }) as Socket;
/** Node's errors as `tlsClientError` gives them: OpenSSL's carry a short `reason`. */
const sslError = (code: string, reason: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`80:error:0A00010B:SSL routines::${reason}:ssl3_record.c:350:\n`), { code, reason });
const reset = (): NodeJS.ErrnoException => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

/** Writes a marker and waits for it: every line written before it has been parsed. */
async function settled(sink: LogSink): Promise<void> {
  const id = Math.random();
  sink.log.write({ event: 'marker', message: 'marker', id });
  await sink.waitForEvent('marker', { id });
}

describe('HandshakeFailures', () => {
  it('logs the first failure at once, counts the next ones into one line a window, then goes quiet', async () => {
    const clock = new FakeClock();
    const sink = new LogSink();
    const failures = new HandshakeFailures(sink.log, clock);

    failures.record(sslError('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'), peer(1000));
    await settled(sink);
    expect(sink.events('tls_error')).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'TLS handshake failed (ERR_SSL_WRONG_VERSION_NUMBER): wrong version number',
        code: 'ERR_SSL_WRONG_VERSION_NUMBER',
        remote: '10.0.0.7:1000',
        count: 1,
      }),
    ]);
    expect(sink.events('tls_error')[0]).not.toHaveProperty('codes');

    for (let i = 1; i <= 40; i++) failures.record(sslError('ERR_SSL_WRONG_VERSION_NUMBER', 'x'), peer(1000 + i));
    failures.record(reset(), { remoteAddress: undefined } as Socket);
    clock.advance(HANDSHAKE_FAILURES_WINDOW_MS - 1);
    await settled(sink);
    expect(sink.events('tls_error')).toHaveLength(1);

    clock.advance(1);
    await settled(sink);
    expect(sink.events('tls_error')[1]).toMatchObject({
      code: 'ERR_SSL_WRONG_VERSION_NUMBER',
      remote: '10.0.0.7:1001',
      count: 41,
      codes: { ERR_SSL_WRONG_VERSION_NUMBER: 40, ECONNRESET: 1 },
    });

    // A window with nothing in it closes: the next failure is logged at once again.
    clock.advance(10 * HANDSHAKE_FAILURES_WINDOW_MS);
    await settled(sink);
    expect(sink.events('tls_error')).toHaveLength(2);
    failures.record(reset(), { remoteAddress: undefined } as Socket);
    await settled(sink);
    expect(sink.events('tls_error')[2]).toMatchObject({ code: 'ECONNRESET', count: 1 });
    expect(sink.events('tls_error')[2]).not.toHaveProperty('remote');
  });

  it('logs what it has counted when stopped, and nothing after', async () => {
    const clock = new FakeClock();
    const sink = new LogSink();
    const failures = new HandshakeFailures(sink.log, clock);
    failures.record(reset(), peer(1));
    failures.record(reset(), peer(2));
    failures.record(reset(), peer(3));
    failures.stop();
    clock.advance(10 * HANDSHAKE_FAILURES_WINDOW_MS);
    await settled(sink);
    expect(sink.events('tls_error').map((line) => line.count)).toEqual([1, 2]);
  });
});
