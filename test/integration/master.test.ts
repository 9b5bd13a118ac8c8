import { once } from 'node:events';
import type { Socket } from 'node:net';
import { Master } from '../../src/master';
import { Slave } from '../../src/slave';
import { startInProcessMaster } from '../helpers/master';
import { LogSink, type LogLine } from '../helpers/log-sink';
import { rawClient, seedMaster, seedPeer } from '../helpers/peers';
import { startInProcessSlave } from '../helpers/slave';
import { waitUntil } from '../helpers/wait';

const FAST_BACKOFF = { initialDelayMs: 20, maxDelayMs: 100, factor: 2 };
/**
 * Our slaves' heartbeat interval: the master times a node out after 3 of them
 * (300 ms), which a busy machine must not reach by merely being slow.
 */
const HEARTBEAT_INTERVAL_MS = 100;

let sink: LogSink;
let master: Master;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

async function startMaster(options: ConstructorParameters<typeof Master>[0] = {}): Promise<void> {
  ({ master, sink } = await startInProcessMaster(options, cleanups));
}

function startSlave(
  node: string,
  options: Partial<ConstructorParameters<typeof Slave>[0]> = {},
): { slave: Slave; slaveLog: LogSink } {
  return startInProcessSlave(
    { masterPort: master.port, node, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, backoff: FAST_BACKOFF, ...options },
    cleanups,
  );
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every message a node logged, as seqs, in log order. */
const loggedSeqs = (node: string): unknown[] => sink.events('message', node).map((line) => line.seq);

/** The seqs of numbered lines, in order (a hello that asks for acks has none). */
const numbered = (lines: LogLine[]): number[] =>
  lines.flatMap((line) => (typeof line.seq === 'number' ? [line.seq] : []));

describe('master', () => {
  it('logs listening with the real port when started on port 0', async () => {
    await startMaster();
    const line = await sink.waitForEvent('listening');
    expect(line.port).toBe(master.port);
    expect(master.port).toBeGreaterThan(0);
    for (const field of ['timestamp', 'level', 'event', 'message']) expect(line).toHaveProperty(field);
  });

  it('accepts and closes health-port connections without logging them', async () => {
    await startMaster({ healthPort: 0 });
    const listening = await sink.waitForEvent('listening');
    expect(listening.health_port).toBe(master.healthPort);
    const probe = await rawClient(master.healthPort!);
    await once(probe, 'close');
    startSlave('after-probe', { heartbeatCount: 0 });
    await sink.waitForEvent('disconnect', { node: 'after-probe' });
    expect(sink.events('connect')).toHaveLength(1);
  });

  it('logs every message of our slave with node, seq and type, and its disconnect with the last seq', async () => {
    await startMaster();
    // Without acks, as in the seed's design: the hello is numbered too.
    const { slave, slaveLog } = startSlave('slave-a', { heartbeatCount: 5, acks: false });
    await slave.done;
    const disconnect = await sink.waitForEvent('disconnect', { node: 'slave-a' });
    expect(disconnect).toMatchObject({ message: 'Client disconnected', reason: 'closed', seq: 6 });

    const sent = slaveLog.events('sent').map((line) => line.seq);
    expect(sent).toEqual([1, 2, 3, 4, 5, 6]);
    expect(loggedSeqs('slave-a')).toEqual(sent);
    const messages = sink.events('message', 'slave-a');
    expect(messages[0]).toMatchObject({ type: 'hello', message: 'Received message: Hello World, I am client slave-a' });
    expect(messages[1]).toMatchObject({
      type: 'heartbeat',
      message: 'Received message: I am still alive, client: slave-a',
    });
    expect(sink.events('disconnect')).toHaveLength(1);
    const connect = sink.events('connect')[0]!;
    expect(connect.conn).toBe(disconnect.conn);
    expect(connect.remote).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('logs each message of a seed-format peer once, under a stable node, and its disconnect', async () => {
    await startMaster();
    const peer = await seedPeer(master.port);
    peer.send('Hello World, I am client 1');
    peer.send('I am still alive, client: 1');
    peer.send('I am still alive, client: 1');
    await sink.waitFor(() => sink.events('message').length === 3);
    await peer.close();
    const disconnect = await sink.waitForEvent('disconnect');

    const messages = sink.events('message');
    expect(messages.map((line) => line.message)).toEqual([
      'Received message: Hello World, I am client 1',
      'Received message: I am still alive, client: 1',
      'Received message: I am still alive, client: 1',
    ]);
    const node = messages[0]!.node;
    expect(typeof node === 'string' && node.length > 0).toBe(true);
    for (const line of [...messages, disconnect, sink.events('connect')[0]!]) expect(line.node).toBe(node);
    expect(messages.every((line) => line.type === 'legacy' && line.seq === undefined)).toBe(true);
    expect(disconnect).toMatchObject({ message: 'Client disconnected', reason: 'closed' });
  });

  it('logs reason reset when the peer resets the connection', async () => {
    await startMaster();
    const socket = await rawClient(master.port);
    socket.write('{"type":"hello","node":"r1","seq":1,"msg":"hi"}\r');
    await sink.waitForEvent('message', { node: 'r1' });
    socket.resetAndDestroy();
    expect(await sink.waitForEvent('disconnect', { node: 'r1' })).toMatchObject({ reason: 'reset', seq: 1 });
  });

  it('declares a silent node disconnected after 3 × its announced interval and closes its socket', async () => {
    await startMaster();
    const socket = await rawClient(master.port);
    const closed = once(socket, 'close');
    const t0 = Date.now();
    socket.write('{"type":"hello","node":"quiet","seq":1,"msg":"hi","interval_ms":100}\r');
    const line = await sink.waitForEvent('disconnect', { node: 'quiet' }, 3000);
    const elapsed = Date.now() - t0;
    expect(line).toMatchObject({ reason: 'timeout', seq: 1 });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    await closed;
  });

  it('uses HEARTBEAT_TIMEOUT_MS (heartbeatTimeoutMs) over the announced interval', async () => {
    await startMaster({ heartbeatTimeoutMs: 150 });
    const socket = await rawClient(master.port);
    socket.write('{"type":"hello","node":"q2","seq":1,"msg":"hi","interval_ms":60000}\r');
    expect(await sink.waitForEvent('disconnect', { node: 'q2' }, 2000)).toMatchObject({ reason: 'timeout' });
  });

  it('ends the older connection of a node that connects again, with reason replaced', async () => {
    await startMaster();
    const first = await rawClient(master.port);
    const firstClosed = once(first, 'close');
    first.write('{"type":"hello","node":"twin","seq":1,"msg":"first"}\r');
    await sink.waitForEvent('message', { node: 'twin', seq: 1 });
    const second = await rawClient(master.port);
    cleanups.push(() => second.destroy());
    second.write('{"type":"hello","node":"twin","seq":2,"msg":"second"}\r');
    const replaced = await sink.waitForEvent('disconnect', { node: 'twin' });
    expect(replaced).toMatchObject({ reason: 'replaced', seq: 1, conn: 1 });
    await firstClosed;
    second.write('{"type":"heartbeat","node":"twin","seq":3,"msg":"still here"}\r');
    await sink.waitForEvent('message', { node: 'twin', seq: 3 });
    expect(sink.events('disconnect')).toHaveLength(1);
  });

  it('on stop, logs a shutdown disconnect for every open connection, then a shutdown line', async () => {
    await startMaster();
    startSlave('s1');
    startSlave('s2');
    const legacy = await seedPeer(master.port);
    legacy.send('old');
    await sink.waitForEvent('message', { node: 's1' });
    await sink.waitForEvent('message', { node: 's2' });
    const legacyNode = (await sink.waitFor((l) => l.message === 'Received message: old')).node;
    await master.stop('SIGTERM');
    await sink.log.close();
    const tail = sink.lines.slice(-4);
    expect(tail.slice(0, 3).map((l) => [l.event, l.reason])).toEqual([
      ['disconnect', 'shutdown'],
      ['disconnect', 'shutdown'],
      ['disconnect', 'shutdown'],
    ]);
    expect(tail[3]).toMatchObject({ event: 'shutdown', connections: 3, signal: 'SIGTERM' });
    expect(new Set(tail.slice(0, 3).map((l) => l.node))).toEqual(new Set(['s1', 's2', legacyNode]));
  });

  it('logs a message whose frame the peer ends with FIN instead of a separator (half-close)', async () => {
    await startMaster();
    const socket = await rawClient(master.port);
    socket.end('{"type":"hello","node":"half","seq":1,"msg":"bye"}');
    await sink.waitForEvent('disconnect', { node: 'half' });
    expect(loggedSeqs('half')).toEqual([1]);
    expect(sink.events('disconnect', 'half')[0]).toMatchObject({ reason: 'closed' });
  });

  it('closes a connection after maxProtocolErrors bad frames, with reason protocol_error', async () => {
    await startMaster({ maxProtocolErrors: 3 });
    const socket = await rawClient(master.port);
    socket.write(
      '{"type":"hello","node":"bad","seq":1,"msg":"hi"}\rnope\r[1]\r{"seq":"x"}\r{"type":"heartbeat","node":"bad","seq":2}\r',
    );
    const line = await sink.waitForEvent('disconnect', { node: 'bad' });
    expect(line).toMatchObject({ reason: 'protocol_error', seq: 1 });
    // The first error of a burst has a line of its own; the rest are counted in one line.
    expect(sink.events('protocol_error', 'bad')).toEqual([
      expect.objectContaining({ level: 'warn', code: 'PICLUSTER_ERR_INVALID_JSON', excerpt: 'nope' }),
      expect.objectContaining({
        repeated: 2,
        codes: { PICLUSTER_ERR_NOT_AN_OBJECT: 1, PICLUSTER_ERR_INVALID_FIELD: 1 },
      }),
    ]);
    expect(loggedSeqs('bad')).toEqual([1]);
  });

  it('refuses a frame naming another node on a named connection', async () => {
    await startMaster();
    const socket = await rawClient(master.port);
    socket.write(
      '{"type":"hello","node":"n1","seq":1,"msg":"a"}\r{"type":"heartbeat","node":"n2","seq":2,"msg":"b"}\r',
    );
    const error = await sink.waitForEvent('protocol_error');
    expect(error).toMatchObject({ code: 'PICLUSTER_ERR_NODE_MISMATCH', node: 'n1' });
    socket.destroy();
  });

  it('keeps serving other slaves, losing none of their messages, while hostile clients attack', async () => {
    await startMaster({ maxFrameBytes: 64 * 1024 });
    const { slave, slaveLog } = startSlave('good');
    await sink.waitForEvent('message', { node: 'good' });

    const hostile: Socket[] = [];
    cleanups.push(() => hostile.forEach((socket) => socket.destroy()));
    for (let batch = 0; batch < 8; batch++) {
      hostile.push(...(await Promise.all(Array.from({ length: 250 }, () => rawClient(master.port)))));
    }
    const garbage = await rawClient(master.port);
    garbage.write(Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31 + 7) % 256)));
    const invalidUtf8 = await rawClient(master.port);
    invalidUtf8.write(
      Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0xa0, 0xa1, 0x22, 0x7d, 0x0d, 0xf0, 0x28, 0x8c, 0x28, 0x0d]),
    );
    const huge = await rawClient(master.port);
    const piece = Buffer.alloc(16 * 1024, 0x61);
    for (let i = 0; i < 256; i++) huge.write(piece); // 4 MiB, no separator
    const halfClose = await rawClient(master.port);
    halfClose.end('{"msg":"half');
    hostile.push(garbage, invalidUtf8, huge, halfClose);
    await new Promise<void>((resolve) => huge.write('', () => resolve()));
    await sink.waitFor((l) => l.event === 'protocol_error' && l.code === 'PICLUSTER_ERR_FRAME_TOO_LARGE');
    // The kernel completes handshakes before the master accepts them: wait until it has.
    await sink.waitFor(() => sink.events('connect').length >= 2005, 20_000);
    // Still served once the attack has landed: two more heartbeats, and five at least in all.
    const lastBefore = Math.max(0, ...numbered(sink.events('message', 'good')));
    await sink.waitForEvent('message', { node: 'good', seq: Math.max(5, lastBefore + 2) }, 10_000);

    await slave.stop();
    const lastConn = sink.events('message', 'good').at(-1)!.conn;
    await sink.waitForEvent('disconnect', { node: 'good', conn: lastConn });
    const sent = slaveLog.events('sent');
    expect(sent.length).toBeGreaterThan(5);
    // Each message logged once, none missing. Not the log order of every line: should the slave
    // reconnect, its new hello comes before the unacked messages it resends.
    expect(numbered(sink.events('message', 'good'))).toEqual(numbered(sent));
    expect(master.connectionCount).toBeGreaterThanOrEqual(2000); // the idle ones are still served
    expect(sink.events('protocol_error').map((l) => l.code)).toEqual(
      expect.arrayContaining(['PICLUSTER_ERR_INVALID_UTF8', 'PICLUSTER_ERR_FRAME_TOO_LARGE']),
    );
  }, 30_000);
});

describe('seed compatibility of our slave', () => {
  it('is read correctly by a master that reads like the seed and never writes back', async () => {
    const seed = await seedMaster();
    cleanups.push(() => seed.close());
    const { slave } = startInProcessSlave(
      { masterPort: seed.port, node: '7', heartbeatIntervalMs: 10, heartbeatCount: 3, backoff: FAST_BACKOFF },
      cleanups,
    );
    await slave.done;
    await waitUntil(
      () => seed.disconnects === 1,
      5000,
      () => `disconnects: ${seed.disconnects}`,
    );
    expect(seed.messages).toEqual([
      'Hello World, I am client 7',
      'I am still alive, client: 7',
      'I am still alive, client: 7',
      'I am still alive, client: 7',
    ]);
  });
});

describe('slave reconnect', () => {
  it('reconnects with backoff after the master goes away, numbering on', async () => {
    await startMaster();
    const port = master.port;
    const { slave, slaveLog } = startSlave('r');
    await sink.waitForEvent('message', { node: 'r', seq: 3 });
    await master.stop();
    await slaveLog.waitForEvent('reconnecting');
    sink = new LogSink();
    master = await new Master({ port, host: '127.0.0.1' }, sink.log).start();
    cleanups.push(() => master.stop());
    await sink.waitForEvent('message', { node: 'r', type: 'hello' }, 5000);
    const heartbeat = await sink.waitForEvent('message', { node: 'r', type: 'heartbeat' });
    expect(heartbeat.seq as number).toBeGreaterThan(3);
    const reconnecting = slaveLog.events('reconnecting');
    expect(reconnecting[0]).toMatchObject({ attempt: 1 });
    expect(reconnecting.every((line: LogLine) => (line.delay_ms as number) <= FAST_BACKOFF.maxDelayMs)).toBe(true);
    await slave.stop();
  });
});
