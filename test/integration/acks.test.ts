import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLog } from '../../src/common';
import { Master } from '../../src/master';
import { FaultProxy } from '../../src/orchestrator/local/fault-proxy';
import { CliProcess, SPAWN_TEST_TIMEOUT_MS } from '../helpers/cli';
import { LogSink } from '../helpers/log-sink';
import { ackingPeer, rawClient, seedMaster } from '../helpers/peers';
import { startInProcessSlave } from '../helpers/slave';
import { pollUntil, waitUntil } from '../helpers/wait';

const FAST_BACKOFF = { initialDelayMs: 20, maxDelayMs: 100, factor: 2 };
const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startMaster(sink: LogSink, options: ConstructorParameters<typeof Master>[0] = {}): Promise<Master> {
  const master = await new Master({ port: 0, host: '127.0.0.1', ...options }, sink.log).start();
  cleanups.push(() => master.stop());
  return master;
}

const heartbeatSeqs = (sink: LogSink, node: string): unknown[] =>
  sink.events('message', node).flatMap((line) => (line.type === 'hello' ? [] : [line.seq]));

describe('acks', () => {
  it('answers a hello that asks for acks at once, then acks cumulatively what it logged', async () => {
    const sink = new LogSink();
    const master = await startMaster(sink);
    const peer = await ackingPeer(master.port, 'a', 'boot-1');
    await peer.acked(0);
    expect(peer.acks[0]).toBe(0);
    peer.beats(1, 2, 3);
    await peer.acked(3);
    // Batched: three messages in one chunk get one ack, not three.
    expect(peer.acks).toEqual([0, 3]);
    const hello = sink.events('message', 'a')[0]!;
    expect(hello).toMatchObject({ type: 'hello', acks: true, boot: 'boot-1' });
    expect(hello).not.toHaveProperty('seq');
  });

  it('logs a resent message once and counts the duplicate', async () => {
    const sink = new LogSink();
    const master = await startMaster(sink);
    const peer = await ackingPeer(master.port, 'd', 'b1');
    peer.beats(1, 2, 3, 2, 3, 4);
    await peer.acked(4);
    expect(heartbeatSeqs(sink, 'd')).toEqual([1, 2, 3, 4]);
    await peer.close();
    const disconnect = await sink.waitForEvent('disconnect', { node: 'd' });
    expect(disconnect).toMatchObject({ reason: 'closed', seq: 4, duplicates: 2 });
  });

  it('asks once for a resend when messages come beyond a missing seq, and logs none of them until it fills', async () => {
    const sink = new LogSink();
    const master = await startMaster(sink);
    const peer = await ackingPeer(master.port, 'g', 'b1');
    peer.beats(1, 2, 5, 6, 7);
    await waitUntil(
      () => peer.resends.length > 0,
      5000,
      () => 'no resend asked',
    );
    expect(peer.resends).toEqual([2]);
    expect(heartbeatSeqs(sink, 'g')).toEqual([1, 2]);
    peer.beats(3, 4, 5, 6, 7);
    await peer.acked(7);
    expect(heartbeatSeqs(sink, 'g')).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peer.resends).toEqual([2]);
    expect(sink.events('gap')).toEqual([]);
    await peer.close();
    expect(await sink.waitForEvent('disconnect', { node: 'g' })).toMatchObject({ ahead: 3 });
  });

  it('logs a gap when the peer says, with a skip, that it has the missing seqs no more', async () => {
    const sink = new LogSink();
    const master = await startMaster(sink);
    const peer = await ackingPeer(master.port, 's', 'b1');
    peer.beats(1, 5);
    await waitUntil(
      () => peer.resends.length > 0,
      5000,
      () => 'no resend asked',
    );
    peer.skip(4);
    peer.beats(5, 6);
    await peer.acked(6);
    expect(heartbeatSeqs(sink, 's')).toEqual([1, 5, 6]);
    expect(sink.events('gap', 's')).toEqual([
      expect.objectContaining({ level: 'warn', boot: 'b1', from: 2, to: 4, message: 'Messages lost: seq 2-4' }),
    ]);
  });

  it('keeps the last seq across connections of one incarnation and starts again with a new one', async () => {
    const sink = new LogSink();
    const master = await startMaster(sink);
    const first = await ackingPeer(master.port, 'n', 'boot-a');
    first.beats(1, 2);
    await first.acked(2);
    await first.close();
    const again = await ackingPeer(master.port, 'n', 'boot-a');
    await again.acked(2); // the hello's answer says what is logged already
    again.beats(2, 3);
    await again.acked(3);
    await again.close();
    const restarted = await ackingPeer(master.port, 'n', 'boot-b');
    await restarted.acked(0);
    expect(restarted.acks[0]).toBe(0);
    restarted.beats(1);
    await restarted.acked(1);
    expect(heartbeatSeqs(sink, 'n')).toEqual([1, 2, 3, 1]);
    expect(sink.events('gap')).toEqual([]);
  });

  it('does not dedup peers that did not ask for acks, and sends them nothing', async () => {
    const sink = new LogSink();
    const master = await startMaster(sink);
    const socket = await rawClient(master.port);
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    const closed = once(socket, 'close');
    socket.write(
      '{"type":"hello","node":"old","seq":1,"msg":"hi"}\r{"type":"heartbeat","node":"old","seq":1,"msg":"x"}\r',
    );
    await sink.waitFor((line) => line.event === 'message' && line.node === 'old' && line.type === 'heartbeat');
    // Acks go out in order, after the lines they cover: once a peer that asks for them gets the
    // ack of a message logged after those of "old", any ack for "old" has been written too.
    const witness = await ackingPeer(master.port, 'witness', 'b1');
    witness.beats(1);
    await witness.acked(1);
    // And it would have come before the master's FIN on the same connection.
    socket.end();
    await closed;
    await sink.waitForEvent('disconnect', { node: 'old' });
    expect(sink.events('message', 'old').map((line) => line.seq)).toEqual([1, 1]);
    expect(received).toBe(0);
  });
});

describe('master stop', () => {
  it('closes every connection even when its log destination no longer takes writes', async () => {
    const stalled = new Writable({ write: () => undefined }); // never calls back
    const master = await new Master({ port: 0, host: '127.0.0.1' }, createLog({ destination: stalled })).start();
    const peer = await ackingPeer(master.port, 'st', 'b');
    peer.beats(1);
    // Taken in (its line waits for the stalled log, and so does its ack).
    await waitUntil(
      () => master.ledger.lastSeq('st') === 1,
      5000,
      () => `the master's last seq of st: ${master.ledger.lastSeq('st')}`,
    );
    const closed = once(peer.socket, 'close');
    await master.stop();
    await closed;
    expect(master.connectionCount).toBe(0);
  });
});

describe('slave with acks', () => {
  it('resends, in order, what a network cut swallowed: every heartbeat logged exactly once', async () => {
    const sink = new LogSink();
    const master = await startMaster(sink, { heartbeatTimeoutMs: 300 });
    const proxy = await new FaultProxy({ upstreamPort: () => master.port }).listen();
    cleanups.push(() => proxy.close());
    const { slave, slaveLog } = startInProcessSlave(
      {
        masterPort: proxy.port,
        node: 'cut',
        heartbeatIntervalMs: 20,
        ackTimeoutMs: 200,
        backoff: FAST_BACKOFF,
        connectTimeoutMs: 300,
      },
      cleanups,
    );
    const cutConn = (await sink.waitForEvent('message', { node: 'cut', seq: 5 })).conn;
    proxy.cut();
    const cutAt = slaveLog.lines.length;
    // The slave finds the link dead, and the master lets go of the connection it had.
    await slaveLog.waitFor((line) => line.event === 'ack_timeout' && slaveLog.lines.indexOf(line) >= cutAt);
    await sink.waitForEvent('disconnect', { node: 'cut', conn: cutConn });
    const lastSentInCut = slave.lastSeq;
    proxy.heal();
    await sink.waitForEvent('message', { node: 'cut', seq: lastSentInCut + 5 }, 10_000);
    await slave.stop();
    const lastConn = sink.events('message', 'cut').at(-1)!.conn;
    await sink.waitForEvent('disconnect', { node: 'cut', conn: lastConn, reason: 'closed' });
    const sent = slaveLog.events('sent').flatMap((line) => (line.type === 'heartbeat' ? [line.seq] : []));
    expect(heartbeatSeqs(sink, 'cut')).toEqual(sent);
    expect(slaveLog.events('resent').length).toBeGreaterThan(0);
    expect(sink.events('gap')).toEqual([]);
    expect(slave.unacked).toBe(0);
  });

  it('against a master that never acks: bounded outbox, nothing dropped or resent in the log', async () => {
    const seed = await seedMaster();
    cleanups.push(() => seed.close());
    const { slave, slaveLog } = startInProcessSlave(
      {
        masterPort: seed.port,
        node: 's',
        heartbeatIntervalMs: 5,
        heartbeatCount: 30,
        maxUnacked: 4,
        ackTimeoutMs: 20,
        backoff: FAST_BACKOFF,
      },
      cleanups,
    );
    await slave.done;
    expect(slave.unacked).toBeLessThanOrEqual(4);
    expect(seed.messages).toHaveLength(31);
    for (const event of ['dropped', 'resent', 'ack_timeout'] as const) expect(slaveLog.events(event)).toEqual([]);
  });
});

describe('master restart with LOG_FILE', () => {
  /** A master child process logging to `logFile`, listening. */
  const startMasterCli = async (logFile: string) => {
    const master = new CliProcess(['master', '--port', '0', '--host', '127.0.0.1'], { LOG_FILE: logFile });
    cleanups.push(() => master.kill('SIGKILL'));
    const listening = await master.waitForEvent('listening');
    return { master, port: listening.port as number };
  };
  const tempLogFile = () => {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-acks-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return join(dir, 'master.jsonl');
  };
  /** A master child process logging to `logFile`, which logged and acked seq 1-3 of `node`'s acking peer. */
  const masterAfterThree = async (logFile: string, node: string) => {
    const first = await startMasterCli(logFile);
    const peer = await ackingPeer(first.port, node, `boot-${node}`);
    peer.beats(1, 2, 3);
    await peer.acked(3);
    return { first, peer };
  };
  /** The log size the checkpoint beside `logFile` covers, once there is one. */
  const checkpointBytes = (logFile: string): number | undefined => {
    try {
      const header = JSON.parse(readFileSync(`${logFile}.ledger`, 'utf8').split('\n')[0]!) as { log_bytes: number };
      return header.log_bytes;
    } catch {
      return undefined;
    }
  };

  it(
    'reads back the last seq per node, so messages resent to the new master are not logged twice',
    async () => {
      const logFile = tempLogFile();

      const { first, peer } = await masterAfterThree(logFile, 'r');
      peer.beats(4); // logged, perhaps not acked before the restart: the peer resends it
      await first.master.waitForEvent('message', { node: 'r', seq: 4 });
      first.master.kill('SIGTERM');
      expect(await first.master.exited).toEqual({ code: 0, signal: null });

      const second = await startMasterCli(logFile);
      // The checkpoint written at stop covers the whole log: nothing left to read.
      expect(second.master.events('recovered')[0]).toMatchObject({
        nodes: 1,
        unreadable: 0,
        checkpoint: true,
        lines: 0,
      });
      const again = await ackingPeer(second.port, 'r', 'boot-r');
      await again.acked(4);
      again.beats(3, 4, 5);
      await again.acked(5);
      await again.close();
      const disconnect = await second.master.waitForEvent('disconnect', { node: 'r' });
      expect(disconnect).toMatchObject({ duplicates: 2, seq: 5 });
      expect(second.master.events('message', 'r').flatMap((l) => (l.type === 'hello' ? [] : [l.seq]))).toEqual([5]);
      expect(second.master.events('gap')).toEqual([]);
    },
    SPAWN_TEST_TIMEOUT_MS,
  );

  it(
    'after a SIGKILL, reads the lines logged since the last checkpoint: what they logged is not logged again',
    async () => {
      const logFile = tempLogFile();
      const { first } = await masterAfterThree(logFile, 'k');
      first.master.kill('SIGTERM');
      await first.master.exited;

      // The second master writes a checkpoint once it listens, then only every minute or 8 MiB of log.
      const second = await startMasterCli(logFile);
      const atStart = await pollUntil(
        () => {
          // The second master's `listening` may be on stdout before it is in the file: until the file has
          // it, the checkpoint there is the first master's last one.
          const text = readFileSync(logFile, 'utf8');
          const listening = text.lastIndexOf('"event":"listening"');
          if (listening === text.indexOf('"event":"listening"')) return undefined;
          const covered = checkpointBytes(logFile);
          return covered !== undefined && covered > listening ? covered : undefined;
        },
        10_000,
        () => `checkpoint covers ${checkpointBytes(logFile)} bytes`,
      );
      const again = await ackingPeer(second.port, 'k', 'boot-k');
      await again.acked(3);
      again.beats(4, 5, 6);
      await again.acked(6);
      second.master.kill('SIGKILL');
      await second.master.exited;
      // The lines of 4 to 6 are after what the checkpoint covers: only the log's tail has them.
      expect(checkpointBytes(logFile)).toBe(atStart);
      expect(readFileSync(logFile).indexOf('"seq":4,')).toBeGreaterThan(atStart);

      const third = await startMasterCli(logFile);
      const recovered = third.master.events('recovered')[0];
      expect(recovered).toMatchObject({ nodes: 1, unreadable: 0, checkpoint: true, offset: atStart });
      expect(recovered?.lines).toBeGreaterThanOrEqual(4); // at least the hello and seqs 4 to 6
      const last = await ackingPeer(third.port, 'k', 'boot-k');
      await last.acked(6);
      last.beats(5, 6, 7);
      await last.acked(7);
      await last.close();
      expect(await third.master.waitForEvent('disconnect', { node: 'k' })).toMatchObject({ duplicates: 2, seq: 7 });
      expect(third.master.events('message', 'k').flatMap((l) => (l.type === 'hello' ? [] : [l.seq]))).toEqual([7]);
    },
    SPAWN_TEST_TIMEOUT_MS,
  );
});

describe('ledger cap', () => {
  it('forgets the least recently active idle node, never one with an open connection, and says so once', async () => {
    const sink = new LogSink();
    const master = await startMaster(sink, { maxConnections: 2, maxLedgerNodes: 2 });
    const live = await ackingPeer(master.port, 'live', 'boot-live');
    live.beats(1, 2);
    await live.acked(2);
    const idle = await ackingPeer(master.port, 'idle', 'boot-idle');
    idle.beats(1);
    await idle.acked(1);
    await idle.close();
    await sink.waitForEvent('disconnect', { node: 'idle' });

    // A third id: 'live' is the oldest entry but has an open connection; 'idle' goes.
    const third = await ackingPeer(master.port, 'third', 'boot-3');
    await third.acked(0);
    const limit = await sink.waitForEvent('limit', { limit: 'ledger' });
    expect(limit).toMatchObject({ level: 'warn', evicted: 1, nodes: 2, applied: 2 });
    await third.close();
    await sink.waitForEvent('disconnect', { node: 'third' });

    live.beats(3);
    await live.acked(3);
    // Forgotten: the same process is taken for a new one, and its resend is logged again.
    const back = await ackingPeer(master.port, 'idle', 'boot-idle');
    await back.acked(0);
    back.beats(1);
    await back.acked(1);
    expect(heartbeatSeqs(sink, 'idle')).toEqual([1, 1]);
    expect(heartbeatSeqs(sink, 'live')).toEqual([1, 2, 3]);
    // Its hello evicted 'third' (idle), in a window of its own: a second line.
    await sink.waitFor(() => sink.events('limit').filter((l) => l.limit === 'ledger').length === 2);
  });
});
