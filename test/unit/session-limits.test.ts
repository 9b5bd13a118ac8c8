import { resolveMasterOptions } from '../../src/master';
import { FakeClock } from '../helpers/fake-clock';
import { fakeSession } from '../helpers/fake-session';

const hello = (intervalMs: number): Buffer =>
  Buffer.from(`{"type":"hello","node":"n","msg":"hi","interval_ms":${intervalMs}}\r`);

describe('limits a peer cannot choose', () => {
  it('clamps the heartbeat timeout a hello asks for, says so once, and times the peer out at the limit', async () => {
    const clock = new FakeClock();
    const { socket, sink } = fakeSession({ clock, options: resolveMasterOptions({ port: 0 }) });
    socket.emit('data', hello(86_400_000));
    const limit = await sink.waitForEvent('limit');
    expect(limit).toMatchObject({
      level: 'warn',
      limit: 'heartbeat_timeout',
      node: 'n',
      conn: 1,
      asked_ms: 3 * 86_400_000,
      applied_ms: 60_000,
    });
    clock.advance(59_999);
    sink.log.write({ event: 'marker', message: 'just before the limit' });
    await sink.waitForEvent('marker');
    expect(sink.events('disconnect')).toEqual([]);
    clock.advance(1);
    expect(await sink.waitForEvent('disconnect')).toMatchObject({ reason: 'timeout', silent_ms: 60_000 });
  });

  it('leaves a timeout within the limit, and an operator’s fixed timeout, as they are, with no limit line', async () => {
    const clock = new FakeClock();
    const fixed = fakeSession({ clock, options: resolveMasterOptions({ port: 0, heartbeatTimeoutMs: 100_000 }) });
    fixed.socket.emit('data', hello(86_400_000));
    const within = fakeSession({ clock, options: resolveMasterOptions({ port: 0 }) });
    within.socket.emit('data', hello(20_000));
    clock.advance(99_999);
    // Lines keep their order: what the advance logged comes before a marker written after it.
    for (const { sink } of [fixed, within]) {
      sink.log.write({ event: 'marker', message: 'after 99,999 ms' });
      await sink.waitForEvent('marker');
      expect(sink.events('limit')).toEqual([]);
    }
    expect(within.sink.events('disconnect')).toEqual([
      expect.objectContaining({ reason: 'timeout', silent_ms: 60_000 }),
    ]);
    expect(fixed.sink.events('disconnect')).toEqual([]);
    clock.advance(1);
    expect(await fixed.sink.waitForEvent('disconnect')).toMatchObject({ reason: 'timeout', silent_ms: 100_000 });
  });
});
