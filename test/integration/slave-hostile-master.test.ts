import { Master } from '../../src/master';
import { CliProcess } from '../helpers/cli';
import {
  RssSampler,
  connectionsReach,
  flood,
  runFor,
  scriptedMaster,
  terminate,
  type ScriptedMaster,
} from '../helpers/hostile-master';
import { LogSink } from '../helpers/log-sink';
import { seedMaster } from '../helpers/peers';
import { startInProcessSlave } from '../helpers/slave';
import { waitUntil } from '../helpers/wait';

const FAST_BACKOFF = { initialDelayMs: 20, maxDelayMs: 100, factor: 2 };
/** Far above what a slave needs (~70 MB); a slave that amplifies a flood passes it within a second. */
const MAX_RSS_MB = 150;
/** SIGKILL a slave still there this long after SIGTERM; it is meant to be gone within 2 s. */
const KILL_AFTER_MS = 5000;
const FLOOD_MS = 5000;
/** The longest node id: the largest heartbeats, so a master that does not read is found sooner. */
const LONG_ID = 'n'.repeat(128);

const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startScripted(onConnection: Parameters<typeof scriptedMaster>[0]): Promise<ScriptedMaster> {
  const master = await scriptedMaster(onConnection);
  cleanups.push(() => master.close());
  return master;
}

function startCliSlave(port: number, node: string, flags: string[]): CliProcess {
  const slave = new CliProcess(['slave', '--master', `127.0.0.1:${port}`, '--id', node, ...flags]);
  cleanups.push(() => slave.kill('SIGKILL'));
  return slave;
}

const seqOf = (frame: Record<string, unknown>): number => (typeof frame.seq === 'number' ? frame.seq : 0);

describe('a slave against a hostile master', () => {
  it('answers a flood of resend requests from a master that stopped reading with one resend, in bounded memory', async () => {
    let flooding = true;
    let requests = { frames: 0 };
    const master = await startScripted((connection) => {
      void (async () => {
        const hello = await connection.frame((frame) => frame.type === 'hello');
        const node = hello.node as string;
        connection.send({ type: 'ack', node, seq: 0 });
        // Some heartbeats first, so that a resend has something to write.
        await connection.frame((frame) => seqOf(frame) >= 3);
        connection.stopReading();
        const request = JSON.stringify({ type: 'ack', node, seq: 0, resend: true }) + '\r';
        requests = flood(connection.socket, request, () => flooding);
      })();
    });
    const slave = startCliSlave(master.port, 'flood', ['--heartbeat-interval-ms', '5', '--ack-timeout-ms', '60000']);
    const rss = new RssSampler(slave.child.pid!);
    cleanups.push(() => rss.stop());
    // The first request is served: the path is live.
    await slave.waitForEvent('resent', { seq: 1 }, 20_000);
    const seqAtFlood = slave.events('sent').length;
    await runFor(FLOOD_MS);
    // Still at work after the flood: heartbeats go on being numbered.
    await slave.waitFor((line) => line.event === 'sent' && (line.seq as number) > seqAtFlood + 10, 20_000);
    flooding = false;
    const exit = await terminate(slave.child, slave.exited, KILL_AFTER_MS);
    rss.stop();
    console.info(
      `resend flood: ${requests.frames} requests in ${FLOOD_MS} ms; peak RSS ${rss.peakMb.toFixed(1)} MB ` +
        `(${rss.samples} samples); SIGTERM to exit ${exit.ms} ms`,
    );
    expect(requests.frames).toBeGreaterThan(10_000);
    expect(rss.peakMb).toBeLessThan(MAX_RSS_MB);
    // Whatever the number of requests, a message is written again at most twice: after the answer to
    // hello, which may come after the first heartbeat, and for the first request.
    const timesResent = new Map<unknown, number>();
    for (const line of slave.events('resent')) timesResent.set(line.seq, (timesResent.get(line.seq) ?? 0) + 1);
    expect(Math.max(...timesResent.values())).toBeLessThanOrEqual(2);
    expect(exit).toMatchObject({ onItsOwn: true, code: 0 });
    expect(slave.events('stopped')).toHaveLength(1);
  }, 90_000);

  it('replaces the connection of a master that never reads (write_stalled), holding what the buffer cannot take', async () => {
    const master = await startScripted((connection) => connection.stopReading());
    const slave = startCliSlave(master.port, LONG_ID, ['--heartbeat-interval-ms', '1']);
    const rss = new RssSampler(slave.child.pid!);
    cleanups.push(() => rss.stop());
    // The kernel takes some MB first: at 1 ms heartbeats of the longest id, 15 s or more.
    const held = await slave.waitForEvent('held', {}, 120_000);
    const stalled = await slave.waitForEvent('write_stalled', {}, 20_000);
    const dropped = await slave.waitForEvent('disconnected', { reason: 'write_stalled' });
    await connectionsReach(master, 2);
    const droppedAt = slave.lines.indexOf(dropped);
    await slave.waitFor((line) => line.event === 'connected', 10_000, droppedAt);
    const exit = await terminate(slave.child, slave.exited, KILL_AFTER_MS);
    rss.stop();
    console.info(
      `never-reading master: held at seq ${String(held.seq)}, write_stalled after ${String(stalled.stalled_ms)} ms ` +
        `with ${String(stalled.buffered_bytes)} bytes buffered; peak RSS ${rss.peakMb.toFixed(1)} MB; SIGTERM to exit ${exit.ms} ms`,
    );
    // The default ack timeout at a 1 ms interval: 1000 ms.
    expect(stalled.stalled_ms as number).toBeGreaterThanOrEqual(1000);
    // Bounded: the buffer holds about its bound (64 KiB) plus one write, the rest waits in the outbox.
    expect(stalled.buffered_bytes as number).toBeLessThan(64 * 1024 + 4096);
    expect(dropped.held as number).toBeGreaterThan(0);
    expect(rss.peakMb).toBeLessThan(MAX_RSS_MB);
    expect(exit).toMatchObject({ onItsOwn: true, code: 0 });
  }, 240_000);

  it('keeps a master that reads everything and never acks (the seed’s): no hold, no stall', async () => {
    const seed = await seedMaster();
    cleanups.push(() => seed.close());
    // A stall timeout of 30 ms at 1 ms heartbeats: a slave that took not acking for not reading would drop it.
    const { slave, slaveLog } = startInProcessSlave(
      { masterPort: seed.port, node: 'seed', heartbeatIntervalMs: 1, ackTimeoutMs: 30, backoff: FAST_BACKOFF },
      cleanups,
    );
    await waitUntil(
      () => seed.messages.length >= 300,
      20_000,
      () => `messages: ${seed.messages.length}`,
    );
    await slave.stop();
    await waitUntil(
      () => seed.disconnects === 1,
      5000,
      () => `disconnects: ${seed.disconnects}`,
    );
    expect(seed.messages).toHaveLength(slave.lastSeq + 1);
    for (const event of ['held', 'write_stalled', 'disconnected'] as const) expect(slaveLog.events(event)).toEqual([]);
  }, 60_000);

  it.each([
    ['an ack', false],
    ['a resend request', true],
  ])(
    'refuses %s for a seq never sent: forgets nothing, replaces the connection, resends to an honest master',
    async (_what, resend) => {
      const sink = new LogSink();
      const honest = await new Master({ port: 0, host: '127.0.0.1' }, sink.log).start();
      cleanups.push(() => honest.stop());
      const master = await startScripted((connection) => {
        if (connection.index > 0) {
          connection.forwardTo(honest.port);
          return;
        }
        void (async () => {
          const hello = await connection.frame((frame) => frame.type === 'hello');
          await connection.frame((frame) => seqOf(frame) >= 3);
          connection.send({ type: 'ack', node: hello.node, seq: Number.MAX_SAFE_INTEGER, resend });
        })();
      });
      const { slave, slaveLog } = startInProcessSlave(
        { masterPort: master.port, node: 'forged', heartbeatIntervalMs: 20, backoff: FAST_BACKOFF },
        cleanups,
      );
      const refused = await slaveLog.waitForEvent('protocol_error', {}, 10_000);
      expect(refused).toMatchObject({ level: 'warn', code: 'PICLUSTER_ERR_BAD_ACK', seq: Number.MAX_SAFE_INTEGER });
      expect(refused.excerpt).toContain('9007199254740991');
      await slaveLog.waitForEvent('disconnected', { reason: 'bad_ack' });
      // What the liar received is resent to the honest master and logged there, once each.
      const firstThree = master.connections[0]!.frames.filter((frame) => seqOf(frame) >= 1 && seqOf(frame) <= 3);
      expect(firstThree).toHaveLength(3);
      for (const seq of [1, 2, 3]) await sink.waitForEvent('message', { node: 'forged', seq }, 10_000);
      await slaveLog.waitForEvent('resent', { seq: 1 });
      const after = slave.lastSeq;
      await sink.waitForEvent('message', { node: 'forged', seq: after + 2 }, 10_000);
      const logged = sink.events('message', 'forged').flatMap((line) => (line.seq === undefined ? [] : [line.seq]));
      expect(logged).toEqual([...Array(logged.length).keys()].map((i) => i + 1));
      expect(sink.events('gap')).toEqual([]);
      expect(slaveLog.events('protocol_error')).toHaveLength(1);
    },
    60_000,
  );
});
