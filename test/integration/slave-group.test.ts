import { encodeFrame } from '../../src/protocol';
import { SlaveGroup, type SlaveOptions } from '../../src/slave';
import { CliProcess, SPAWN_TEST_TIMEOUT_MS } from '../helpers/cli';
import { LogSink, type LogLine } from '../helpers/log-sink';
import { startInProcessMaster } from '../helpers/master';
import { rawClient } from '../helpers/peers';

const REPLICAS = 20;
/** Long enough that 20 connections on a busy machine stay well within the master's 3-interval timeout. */
const HEARTBEAT_INTERVAL_MS = 200;
const FAST_BACKOFF = { initialDelayMs: 20, maxDelayMs: 100, factor: 2 };
const WAIT_MS = 15_000;

const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const ids = (base: string): string[] => Array.from({ length: REPLICAS }, (_, index) => `${base}-${index + 1}`);

function startGroup(masterPort: number, node = 'grp', options: Partial<SlaveOptions> = {}): LogSink {
  const log = new LogSink();
  const group = new SlaveGroup(
    {
      masterHost: '127.0.0.1',
      masterPort,
      node,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      backoff: FAST_BACKOFF,
      ...options,
    },
    { replicas: REPLICAS },
    log.log,
  ).start();
  cleanups.push(() => group.stop());
  return log;
}

/** Resolves once the master's log has a hello from every one of `nodes`, from line `from` on. */
async function hellosOf(sink: LogSink, nodes: string[], from = 0): Promise<void> {
  for (const node of nodes) {
    await sink.waitFor(
      (line) => line.event === 'message' && line.type === 'hello' && line.node === node,
      WAIT_MS,
      from,
    );
  }
}

/** Resolves once every one of `nodes` has a heartbeat in the master's log after line `from`. */
async function heartbeatsOf(sink: LogSink, nodes: string[], from: number): Promise<void> {
  for (const node of nodes) {
    await sink.waitFor(
      (line) => line.event === 'message' && line.type === 'heartbeat' && line.node === node,
      WAIT_MS,
      from,
    );
  }
}

const linesOf = (log: LogSink, event: string, node: string): LogLine[] =>
  log.lines.filter((line) => line.event === event && line.node === node);

describe('slave group', () => {
  it('runs every replica on its own connection, each logging its messages under its own id', async () => {
    const { sink } = await startInProcessMaster({}, cleanups);
    const nodes = ids('grp');
    const log = startGroup((await sink.waitForEvent('listening')).port as number);
    await hellosOf(sink, nodes);
    await heartbeatsOf(sink, nodes, 0);
    const conns = new Set(nodes.map((node) => sink.events('message', node)[0]!.conn));
    expect(conns.size).toBe(REPLICAS);
    for (const node of nodes) {
      const sent = linesOf(log, 'sent', node);
      expect(sent[0]).toMatchObject({ type: 'hello', acks: true });
      // Every heartbeat the master logged from this node, this replica logged as sent, under its id.
      const sentSeqs = new Set(sent.map((line) => line.seq));
      for (const message of sink.events('message', node).filter((line) => line.type === 'heartbeat')) {
        expect(sentSeqs.has(message.seq)).toBe(true);
      }
    }
    // Starts are spread over one interval: the last replica starts (N-1)/N of it after the first.
    const startedAt = nodes.map((node) => Date.parse(linesOf(log, 'starting', node)[0]!.timestamp as string));
    expect(startedAt[REPLICAS - 1]! - startedAt[0]!).toBeGreaterThanOrEqual(
      Math.floor(((REPLICAS - 1) * HEARTBEAT_INTERVAL_MS) / REPLICAS) - 1,
    );
  });

  it('reconnects every replica to a restarted master', async () => {
    const first = await startInProcessMaster({}, cleanups);
    const port = first.master.port;
    const nodes = ids('grp');
    const log = startGroup(port);
    await hellosOf(first.sink, nodes);
    await first.master.stop();
    for (const node of nodes) await log.waitForEvent('disconnected', { node }, WAIT_MS);
    const second = await startInProcessMaster({ port }, cleanups);
    await hellosOf(second.sink, nodes);
    await heartbeatsOf(second.sink, nodes, 0);
  });

  it('loses only the replica whose connection the master ends; the others go on', async () => {
    const { sink } = await startInProcessMaster({}, cleanups);
    const nodes = ids('grp');
    const log = startGroup((await sink.waitForEvent('listening')).port as number);
    await hellosOf(sink, nodes);
    // A hello from another process claiming grp-7's id makes the master end grp-7's connection.
    const impostor = await rawClient((await sink.waitForEvent('listening')).port as number);
    impostor.write(
      encodeFrame({ type: 'hello', node: 'grp-7', ts: Date.now(), msg: 'impostor', heartbeatIntervalMs: 1000, seq: 1 }),
    );
    await sink.waitForEvent('disconnect', { node: 'grp-7', reason: 'replaced' }, WAIT_MS);
    impostor.destroy();
    await log.waitForEvent('disconnected', { node: 'grp-7' }, WAIT_MS);
    const after = sink.lines.length;
    // grp-7 is back; every other replica went on beating, on the connection it had.
    await hellosOf(sink, ['grp-7'], after);
    await heartbeatsOf(sink, nodes, after);
    // Two more rounds of heartbeats: had another replica lost its connection, it would have said so by now.
    await heartbeatsOf(sink, nodes, sink.lines.length);
    await heartbeatsOf(sink, nodes, sink.lines.length);
    for (const node of nodes.filter((node) => node !== 'grp-7')) {
      expect(linesOf(log, 'disconnected', node)).toEqual([]);
      expect(linesOf(log, 'connected', node)).toHaveLength(1);
    }
    expect(linesOf(log, 'connected', 'grp-7')).toHaveLength(2);
  });

  it('stops replicas not started yet without a line from them', async () => {
    const { sink } = await startInProcessMaster({}, cleanups);
    const log = new LogSink();
    const port = (await sink.waitForEvent('listening')).port as number;
    const group = new SlaveGroup(
      { masterHost: '127.0.0.1', masterPort: port, node: 'late', heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS },
      { replicas: 3, startSpreadMs: 600_000 },
      log.log,
    ).start();
    await hellosOf(sink, ['late-1']);
    await group.stop();
    await group.done;
    // The logger hands lines on once a turn: wait for the last one.
    await log.waitForEvent('stopped', { node: 'late-1' }, WAIT_MS);
    expect(log.lines.filter((line) => line.node !== 'late-1')).toEqual([]);
  });

  it(
    'ends `picluster slave --replicas` on SIGTERM with exit 0 once every connection is closed',
    async () => {
      const { sink } = await startInProcessMaster({}, cleanups);
      const port = (await sink.waitForEvent('listening')).port as number;
      const nodes = ids('cli');
      const slaves = new CliProcess([
        'slave',
        '--id',
        'cli',
        '--replicas',
        String(REPLICAS),
        '--master',
        `127.0.0.1:${port}`,
        '--heartbeat-interval-ms',
        String(HEARTBEAT_INTERVAL_MS),
      ]);
      cleanups.push(() => slaves.kill('SIGKILL'));
      await hellosOf(sink, nodes);
      await heartbeatsOf(sink, nodes, 0);
      slaves.kill('SIGTERM');
      expect(await slaves.exited).toEqual({ code: 0, signal: null });
      for (const node of nodes) {
        await sink.waitForEvent('disconnect', { node, reason: 'closed' }, WAIT_MS);
        expect(slaves.events('stopped', node)).toHaveLength(1);
      }
      expect(slaves.stderr).toBe('');
    },
    SPAWN_TEST_TIMEOUT_MS,
  );
});
