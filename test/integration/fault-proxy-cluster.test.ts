import { FaultProxy } from '../../src/orchestrator/local/fault-proxy';
import type { LogSink } from '../helpers/log-sink';
import { startInProcessMaster } from '../helpers/master';
import { startInProcessSlave } from '../helpers/slave';

/**
 * A real master and slave through a degraded {@link FaultProxy}: what the
 * proxy does to the bytes, the master's framing and log must survive.
 */

const FAST_BACKOFF = { initialDelayMs: 20, maxDelayMs: 100, factor: 2 };
const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A master, a proxy in front of it, and a slave `node` sending a heartbeat
 * every 50 ms through the proxy; the master waits long for a silent node, as
 * slices trickle on a busy machine.
 */
async function cluster(node: string) {
  const { master, sink } = await startInProcessMaster({ heartbeatTimeoutMs: 5000 }, cleanups);
  const proxy = await new FaultProxy({ upstreamPort: () => master.port }).listen();
  cleanups.push(() => proxy.close());
  const { slave } = startInProcessSlave(
    { masterPort: proxy.port, node, heartbeatIntervalMs: 50, ackTimeoutMs: 2000, backoff: FAST_BACKOFF },
    cleanups,
  );
  return { sink, proxy, slave };
}

const heartbeatSeqs = (sink: LogSink, node: string): unknown[] =>
  sink.events('message', node).flatMap((line) => (line.type === 'hello' ? [] : [line.seq]));

describe('a master and a slave through a degraded proxy', () => {
  it('frames cut into 3-byte slices both ways are each logged once, in order, on one connection', async () => {
    const { sink, proxy } = await cluster('sliced');
    await sink.waitForEvent('message', { node: 'sliced', seq: 1 });
    proxy.degrade({ direction: 'both', shape: { sliceBytes: 3 } });
    const from = heartbeatSeqs(sink, 'sliced').length;
    // Frames of a hundred bytes and more, each in some thirty pieces, both ways (acks come back sliced too).
    await sink.waitForEvent('message', { node: 'sliced', seq: from + 20 }, 30_000);
    const seqs = heartbeatSeqs(sink, 'sliced');
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(sink.events('disconnect')).toEqual([]);
    expect(new Set(sink.events('message', 'sliced').map((line) => line.conn)).size).toBe(1);
  }, 60_000);

  it('a reset ends the connection with reason reset at once, and the slave comes back', async () => {
    const { sink, proxy } = await cluster('reset');
    const first = await sink.waitForEvent('message', { node: 'reset', seq: 2 });
    proxy.reset();
    await sink.waitForEvent('disconnect', { node: 'reset', conn: first.conn, reason: 'reset' });
    const back = await sink.waitFor(
      (line) => line.event === 'message' && line.node === 'reset' && line.conn !== first.conn,
    );
    expect(back.conn).not.toBe(first.conn);
  }, 60_000);
});
