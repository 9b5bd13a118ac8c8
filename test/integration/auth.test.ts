import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Master } from '../../src/master';
import { FrameDecoder, computeProof, toChallenge } from '../../src/protocol';
import { Slave } from '../../src/slave';
import { startInProcessMaster } from '../helpers/master';
import { LogSink, type LogLine } from '../helpers/log-sink';
import { rawClient, seedPeer } from '../helpers/peers';
import { startInProcessSlave } from '../helpers/slave';

const TOKEN = 'integration-token-9f8e7d6c5b4a';
const FAST_BACKOFF = { initialDelayMs: 20, maxDelayMs: 100, factor: 2 };
const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function startSlave(port: number, node: string, options: Partial<ConstructorParameters<typeof Slave>[0]> = {}) {
  const { slave, slaveLog } = startInProcessSlave(
    { masterPort: port, node, heartbeatIntervalMs: 100, backoff: FAST_BACKOFF, ...options },
    cleanups,
  );
  return { slave, log: slaveLog };
}

/**
 * A TCP relay in front of the master that keeps the first frame each client
 * sent: what an eavesdropper on the slave's link would have recorded.
 */
async function recordingRelay(masterPort: number): Promise<{ port: number; firstFrames: string[] }> {
  const firstFrames: string[] = [];
  const server = createServer((client) => {
    const upstream = connect({ port: masterPort, host: '127.0.0.1' });
    let seen = '';
    client.on('data', (chunk: Buffer) => {
      if (seen.includes('\r')) return;
      seen += chunk.toString('utf8');
      const end = seen.indexOf('\r');
      if (end >= 0) firstFrames.push(seen.slice(0, end + 1));
    });
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as AddressInfo).port, firstFrames };
}

/** An attacker's connection: waits for the master's challenge, writes `frames`, resolves with its disconnect line. */
async function attack(master: Master, sink: LogSink, frames: string[]): Promise<LogLine> {
  const socket: Socket = await rawClient(master.port);
  cleanups.push(() => socket.destroy());
  const challenged = new Promise<void>((resolve) => {
    const decoder = new FrameDecoder({
      frame: (frame) => (toChallenge(frame) === undefined ? undefined : resolve()),
      error: () => undefined,
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  });
  const closed = once(socket, 'close');
  await challenged;
  for (const frame of frames) socket.write(frame);
  const node = `127.0.0.1:${socket.localPort}`;
  const line = await sink.waitForEvent('disconnect', { node }, 10_000);
  await closed;
  return line;
}

const frame = (fields: Record<string, unknown>): string => JSON.stringify(fields) + '\r';

/**
 * The master's heartbeat timeout and the slave's ack timeout where the slave
 * goes through the relay, far above its 100 ms interval. Master, relay and
 * slave share this process: when a loaded machine leaves it unscheduled for a
 * few hundred ms, a heartbeat that was due is still in the relay when the
 * master confirms a timeout after reading its pending input, and the default 3
 * × 100 ms closes the slave (likewise an ack and the slave's 1 s). What is
 * tested is that the attacks leave the slave whole, not heartbeat timing.
 */
const RELAYED_SLAVE_TIMEOUT_MS = 10_000;

describe('authenticated slaves', () => {
  it('keeps a real slave whole while peers without the token forge, reset, skip and replay its frames', async () => {
    const { master, sink } = await startInProcessMaster(
      { token: TOKEN, heartbeatTimeoutMs: RELAYED_SLAVE_TIMEOUT_MS },
      cleanups,
    );
    const relay = await recordingRelay(master.port);
    const { slave, log: slaveLog } = startSlave(relay.port, 'good', {
      token: TOKEN,
      ackTimeoutMs: RELAYED_SLAVE_TIMEOUT_MS,
    });
    await sink.waitForEvent('message', { node: 'good', seq: 2 }, 10_000);
    const boot = (await slaveLog.waitForEvent('starting')).boot as string;
    const recordedHello = relay.firstFrames[0]!;
    expect(JSON.parse(recordedHello)).toMatchObject({ type: 'hello', node: 'good', boot });

    const attacks: Array<[string, string[]]> = [
      ['forged heartbeat', [frame({ type: 'heartbeat', node: 'good', seq: 1_000, msg: 'forged beat' })]],
      ['hello, no proof', [frame({ type: 'hello', node: 'good', msg: 'forged hello', acks: true, boot: 'other' })]],
      [
        'hello with its boot, wrong proof',
        [frame({ type: 'hello', node: 'good', msg: 'forged', acks: true, boot, proof: 'ab'.repeat(32) })],
      ],
      ['skip', [frame({ type: 'skip', node: 'good', to: 1_000_000 })]],
      [
        'hello without proof, then skip',
        [
          frame({ type: 'hello', node: 'good', msg: 'forged', acks: true, boot }),
          frame({ type: 'skip', node: 'good', to: 1_000_000 }),
        ],
      ],
      ['replayed hello', [recordedHello]],
    ];
    const attackedFrom = slave.lastSeq;
    for (const [what, frames] of attacks) {
      const line = await attack(master, sink, frames);
      expect({ what, ...line }).toMatchObject({ what, reason: 'auth_failed' });
    }
    expect(sink.events('disconnect').map((l) => l.code)).toEqual([
      'auth_required',
      'auth_required',
      'bad_proof',
      'auth_required',
      'auth_required',
      'bad_proof',
    ]);

    // The slave goes on, on its first connection, and the master logs its next seqs: its ledger was not moved.
    const after = await sink.waitFor(
      (l) => l.event === 'message' && l.node === 'good' && (l.seq as number) > attackedFrom + 2,
      10_000,
    );
    expect(after.conn).toBe(sink.events('message', 'good')[0]!.conn);
    await slave.stop();
    const closed = await sink.waitForEvent('disconnect', { node: 'good' }, 10_000);
    expect(closed).toMatchObject({ reason: 'closed', seq: slave.lastSeq });
    expect(closed).not.toHaveProperty('duplicates');
    expect(sink.events('disconnect', 'good')).toHaveLength(1);
    expect(sink.events('gap')).toEqual([]);

    const logged = sink.events('message', 'good');
    const sent = slaveLog.events('sent');
    expect(logged.map((l) => [l.type, l.seq ?? null])).toEqual(sent.map((l) => [l.type, l.seq ?? null]));
    expect(logged.filter((l) => String(l.message).includes('forged'))).toEqual([]);
    expect(slaveLog.events('disconnected')).toEqual([]);
    expect(JSON.stringify([...sink.lines, ...slaveLog.lines])).not.toContain(TOKEN);
  }, 60_000);

  it('takes a hello split across TCP writes', async () => {
    const { master, sink } = await startInProcessMaster({ token: TOKEN }, cleanups);
    const socket = await rawClient(master.port);
    cleanups.push(() => socket.destroy());
    const nonce = await new Promise<string>((resolve) => {
      const decoder = new FrameDecoder({
        frame: (f) => resolve(toChallenge(f)?.nonce ?? ''),
        error: () => undefined,
      });
      socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    });
    const proof = computeProof(TOKEN, nonce, 'split', 'b1');
    const hello = frame({ type: 'hello', node: 'split', msg: 'hi', acks: true, boot: 'b1', proof });
    const connectLine = await sink.waitForEvent('connect', { remote: `127.0.0.1:${socket.localPort}` });
    for (let i = 0; i < hello.length; i += 7) {
      socket.write(hello.slice(i, i + 7));
      // A turn of the loop between pieces, so the master reads them apart.
      await new Promise((resolve) => setImmediate(resolve));
    }
    socket.write(frame({ type: 'heartbeat', node: 'split', seq: 1, msg: 'beat' }));
    await sink.waitForEvent('message', { node: 'split', seq: 1, conn: connectLine.conn }, 10_000);
    expect(sink.events('message', 'split').map((l) => l.type)).toEqual(['hello', 'heartbeat']);
    expect(sink.events('disconnect')).toEqual([]);
  }, 30_000);

  it('tells a slave without the token apart in the master log, and a slave with one apart in its own', async () => {
    const { master, sink } = await startInProcessMaster({ token: TOKEN }, cleanups);
    const { log: plainLog } = startSlave(master.port, 'plain');
    const refused = await sink.waitForEvent('disconnect', { reason: 'auth_failed' }, 10_000);
    expect(refused).toMatchObject({ code: 'auth_required' });
    expect(refused.node).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(sink.events('message')).toEqual([]);
    // It keeps trying, and is refused each time.
    await plainLog.waitFor((l) => l.event === 'connected' && plainLog.events('connected').length >= 2, 10_000);

    const { master: open, sink: openSink } = await startInProcessMaster({}, cleanups);
    const { log: tokenLog } = startSlave(open.port, 'tokened', { token: TOKEN, connectTimeoutMs: 300 });
    expect(await tokenLog.waitForEvent('disconnected', {}, 10_000)).toMatchObject({ reason: 'no_challenge' });
    await tokenLog.waitForEvent('reconnecting', {}, 10_000);
    // It sent nothing: no line names it on the master that has no token.
    expect(openSink.events('message')).toEqual([]);
    expect(JSON.stringify([...sink.lines, ...plainLog.lines, ...tokenLog.lines])).not.toContain(TOKEN);
  }, 30_000);

  it('keeps growing its reconnect delay while connections get no challenge, and starts over once one does', async () => {
    // A master too busy to accept: the TCP connect succeeds, the challenge never comes.
    let challenge = false;
    const server = createServer((client) => {
      client.on('error', () => undefined);
      if (!challenge) return;
      client.write('{"type":"challenge","nonce":"0123456789abcdef0123456789abcdef"}\r');
      // It answers the hello by hanging up: a master that restarts.
      client.once('data', () => client.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as AddressInfo;
    const { log } = startSlave(port, 'patient', { token: TOKEN, connectTimeoutMs: 100 });
    const reconnects = (): LogLine[] => log.events('reconnecting');
    await log.waitFor(() => reconnects().length >= 3, 10_000);
    expect(
      log
        .events('disconnected')
        .slice(0, 3)
        .map((l) => l.reason),
    ).toEqual(Array(3).fill('no_challenge'));
    expect(
      reconnects()
        .slice(0, 3)
        .map((l) => l.attempt),
    ).toEqual([1, 2, 3]);

    challenge = true;
    const before = reconnects().length;
    await log.waitFor(() => reconnects().length >= before + 3, 10_000);
    expect(log.events('sent').filter((l) => l.type === 'hello').length).toBeGreaterThanOrEqual(2);
    // Every connection after the first that was challenged starts the backoff over.
    const after = reconnects().slice(before + 1, before + 3);
    expect(after.map((l) => l.attempt)).toEqual([1, 1]);
  }, 30_000);

  it('changes nothing without a token: a seed-format peer is logged, and no challenge is sent', async () => {
    const { master, sink } = await startInProcessMaster({}, cleanups);
    const peer = await seedPeer(master.port);
    const received: Buffer[] = [];
    peer.socket.on('data', (chunk: Buffer) => received.push(chunk));
    peer.send('Hello World, I am client 1');
    await sink.waitForEvent('message', { message: 'Received message: Hello World, I am client 1' });
    await peer.close();
    expect(await sink.waitForEvent('disconnect', {})).toMatchObject({ reason: 'closed' });
    expect(Buffer.concat(received).toString()).toBe('');
  });
});
