import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import type { FaultProxy } from '../../src/orchestrator/local/fault-proxy';
import { mulberry32 } from '../../src/orchestrator';
import { finish, ProxyRig, send, until, type Peer } from '../helpers/proxy-peers';
import { afterPolls } from '../helpers/wait';

/**
 * Poll phases after which whatever a faulty proxy did with what it read
 * during a cut has reached the other end: the longest such chain is three
 * hops (it reads a FIN, it resets or closes the other end, whose `close`
 * comes one turn after it reads that).
 */
const HOPS = 3;

/** What each end sends right before a cut, to prove the path carried bytes then. */
const UP = 'up-before';
const DOWN = 'down-before';

/** Sends {@link UP} and {@link DOWN} and waits for both: the path carries bytes both ways now. */
async function bothWays(slave: Peer, master: Peer): Promise<void> {
  slave.socket.write(UP);
  master.socket.write(DOWN);
  await until(() => master.received === UP && slave.received === DOWN, 'bytes both ways before the cut');
}

let rig: ProxyRig;
let proxy: FaultProxy;

beforeEach(async () => {
  rig = await ProxyRig.start();
  proxy = rig.proxy;
});

afterEach(() => rig.close());

const client = (): Promise<Peer> => rig.client();
const connected = (): Promise<{ slave: Peer; master: Peer }> => rig.connected();

/** A connection that carried bytes both ways, then was cut while each end sent more, which is lost. */
async function cutWhileSending(): Promise<{ slave: Peer; master: Peer }> {
  const { slave, master } = await connected();
  await bothWays(slave, master);
  proxy.cut();
  await send(slave, 'lost-up');
  await send(master, 'lost-down');
  return { slave, master };
}

describe('FaultProxy', () => {
  it('forwards bytes both ways and passes a FIN on', async () => {
    const { slave, master } = await connected();
    slave.socket.write('hello\r');
    await until(() => master.received === 'hello\r', 'bytes upstream');
    master.socket.write('ack');
    await until(() => slave.received === 'ack', 'bytes downstream');
    slave.socket.end();
    await until(() => master.ended, 'the FIN upstream');
    master.socket.end();
    await until(() => slave.closed, 'the close downstream');
    expect(slave.error).toBeUndefined();
  });

  it('drops bytes both ways while cut, and sends no FIN for a master-side close', async () => {
    const { slave, master } = await cutWhileSending();
    await finish(master);
    await afterPolls(HOPS);
    expect(master.received).toBe(UP);
    expect(slave.received).toBe(DOWN);
    expect(slave.ended).toBe(false);
    expect(slave.closed).toBe(false);
    expect(slave.error).toBeUndefined();
    // The master's side closed during the cut, so heal ends both connections: whatever the
    // proxy had passed on during the cut would have come first on each of them.
    proxy.heal();
    await until(() => master.closed && slave.closed, 'both ends closed at heal');
    expect(master.received).toBe(UP);
    expect(slave.received).toBe(DOWN);
    expect(slave.ended).toBe(false);
    expect(slave.error).toBe('ECONNRESET');
  });

  it('resumes forwarding after heal on a connection that stayed open', async () => {
    const { slave, master } = await cutWhileSending();
    await afterPolls(HOPS);
    proxy.heal();
    slave.socket.write('after-up');
    master.socket.write('after-down');
    await until(
      () => master.received.endsWith('after-up') && slave.received.endsWith('after-down'),
      'traffic after heal',
    );
    // Sent before these on the same connections, bytes of the cut would have come first.
    expect(master.received).toBe(UP + 'after-up');
    expect(slave.received).toBe(DOWN + 'after-down');
    expect(slave.closed).toBe(false);
  });

  it('resets at heal a connection whose upstream closed during the cut', async () => {
    const { slave, master } = await connected();
    await bothWays(slave, master);
    proxy.cut();
    master.socket.destroy();
    await afterPolls(HOPS);
    expect(slave.closed).toBe(false);
    proxy.heal();
    await until(() => slave.closed, 'the reset');
    expect(slave.error).toBe('ECONNRESET');
    // A FIN passed on during the cut would have come before the reset.
    expect(slave.ended).toBe(false);
    expect(slave.received).toBe(DOWN);
  });

  it('holds a connection accepted during the cut without an upstream, and resets it at heal', async () => {
    const before = await connected();
    await bothWays(before.slave, before.master);
    proxy.cut();
    const held = await client();
    await send(held, 'hello\r');
    await afterPolls(HOPS);
    expect(rig.serverPeers).toHaveLength(1);
    expect(held.closed).toBe(false);
    proxy.heal();
    await until(() => held.closed, 'the reset');
    expect(held.error).toBe('ECONNRESET');
    // A new connection after heal reaches the master again, and is the only one since the cut:
    // an upstream opened for the held one would have been accepted before it.
    const { slave, master } = await connected();
    slave.socket.write('again');
    await until(() => master.received === 'again', 'bytes after heal');
    expect(rig.serverPeers).toHaveLength(2);
  });

  it('passes a FIN the slave sent during the cut on at heal', async () => {
    const { slave, master } = await connected();
    await bothWays(slave, master);
    proxy.cut();
    await send(slave, 'lost-up');
    await finish(slave);
    await afterPolls(HOPS);
    expect(master.ended).toBe(false);
    proxy.heal();
    await until(() => master.ended, 'the FIN upstream');
    // The bytes the slave sent before its FIN, during the cut, stay dropped.
    expect(master.received).toBe(UP);
  });

  it('resets the slave when the master refuses the upstream connection', async () => {
    const { port } = rig.server.address() as AddressInfo;
    await new Promise((resolve) => rig.server.close(resolve));
    const slave = await client();
    await until(() => slave.closed, 'the reset');
    expect(slave.error).toBe('ECONNRESET');
    // Restore a listening server for afterEach.
    rig.server = createServer(() => undefined).listen(port, '127.0.0.1');
    await once(rig.server, 'listening');
  });
});

/** A seeded source of draws in [0, 1) for a proxy's loss and jitter. */
const seeded = (seed: number): (() => number) => {
  const next = mulberry32(seed);
  return () => next() / 2 ** 32;
};

/** When `peer` had received `length` characters, by `Date.now()`. */
function receivedAt(peer: Peer, length: number): number {
  let total = 0;
  for (const chunk of peer.chunks) {
    total += chunk.text.length;
    if (total >= length) return chunk.at;
  }
  throw new Error(`only ${total} of ${length} characters received`);
}

/** Frames `0\r` … `(count - 1)\r`, concatenated. */
const frames = (count: number): string => Array.from({ length: count }, (_, i) => `${i}\r`).join('');

describe('FaultProxy degradation', () => {
  it('delays what the slave sends on an open connection, and not what the master sends', async () => {
    const { slave, master } = await connected();
    await bothWays(slave, master);
    proxy.degrade({ direction: 'to-master', shape: { delayMs: 200 } });
    expect(proxy.degradation).toEqual({ direction: 'to-master', shape: { delayMs: 200 } });
    const sentAt = Date.now();
    slave.socket.write('up\r');
    master.socket.write('down\r');
    await until(() => master.received === UP + 'up\r', 'the delayed frame');
    const upAt = receivedAt(master, master.received.length);
    expect(upAt - sentAt).toBeGreaterThanOrEqual(200);
    expect(upAt - sentAt).toBeLessThan(5000);
    // Written at the same time, the frame the other way came first.
    expect(slave.received).toBe(DOWN + 'down\r');
    expect(receivedAt(slave, slave.received.length)).toBeLessThanOrEqual(upAt);
  });

  it('delays what the master sends on a connection opened after degrade', async () => {
    proxy.degrade({ direction: 'from-master', shape: { delayMs: 200 } });
    const { slave, master } = await connected();
    const sentAt = Date.now();
    master.socket.write('down\r');
    slave.socket.write('up\r');
    await until(() => slave.received === 'down\r', 'the delayed frame');
    const downAt = receivedAt(slave, slave.received.length);
    expect(downAt - sentAt).toBeGreaterThanOrEqual(200);
    expect(master.received).toBe('up\r');
    expect(receivedAt(master, master.received.length)).toBeLessThanOrEqual(downAt);
  });

  it('keeps order under jitter', async () => {
    const { slave, master } = await connected();
    proxy.degrade({ direction: 'both', shape: { delayMs: 20, jitterMs: 19 } });
    const expected = frames(200);
    for (const frame of expected.split(/(?<=\r)/)) {
      await send(slave, frame);
      // The proxy reads each frame on its own, so each gets its own jitter.
      await afterPolls(1);
    }
    await until(() => master.received.length >= expected.length, 'every frame', 30_000);
    expect(master.received).toBe(expected);
  }, 60_000);

  it('cuts what passes into slices, each written and read on its own', async () => {
    const { slave, master } = await connected();
    proxy.degrade({ direction: 'from-master', shape: { sliceBytes: 3, sliceDelayMs: 5 } });
    const text = '{"type":"ack","seq":1}\r{"type":"ack","seq":2}\r';
    master.socket.write(text);
    slave.socket.write('up\r');
    await until(() => slave.received.length >= text.length, 'every slice');
    expect(slave.received).toBe(text);
    expect(slave.chunks.length).toBeGreaterThanOrEqual(Math.ceil(text.length / 3));
    expect(Math.max(...slave.chunks.map((chunk) => chunk.text.length))).toBeLessThanOrEqual(3);
    // The other direction is not sliced.
    await until(() => master.received === 'up\r', 'the frame upstream');
    expect(master.chunks).toHaveLength(1);
  });

  it('delivers every frame under loss, in order, some of them a retransmission timeout late', async () => {
    // Seed 7's first draw (0.012) loses the first segment.
    const lossy = await ProxyRig.start({ random: seeded(7) });
    try {
      const { slave, master } = await lossy.connected();
      lossy.proxy.degrade({ direction: 'to-master', shape: { lossPercent: 50 } });
      const expected = frames(1000);
      const sentAt = Date.now();
      await send(slave, expected);
      await until(() => master.received.length >= expected.length, 'every frame', 40_000);
      expect(master.received).toBe(expected);
      expect(receivedAt(master, 1) - sentAt).toBeGreaterThanOrEqual(200);
    } finally {
      await lossy.close();
    }
  }, 60_000);

  it('passes no more than the rate', async () => {
    const { slave, master } = await connected();
    proxy.degrade({ direction: 'to-master', shape: { rateBitsPerSecond: 64_000 } });
    const bytes = 16 * 1024;
    const sentAt = Date.now();
    await send(slave, Buffer.alloc(bytes, 'x'));
    await until(() => master.received.length >= bytes, 'every byte', 30_000);
    const elapsed = receivedAt(master, bytes) - sentAt;
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(elapsed).toBeLessThan(20_000);
  }, 60_000);

  it.each([
    ['to-master', 'slave', 'master'],
    ['from-master', 'master', 'slave'],
  ] as const)('partitions %s: nothing passes from the %s, the other way works', async (direction, from, to) => {
    const ends = await connected();
    await bothWays(ends.slave, ends.master);
    const [sender, receiver] = [ends[from], ends[to]];
    const before = receiver.received;
    proxy.degrade({ direction, shape: { drop: true } });
    await send(receiver, 'open-1');
    await until(() => sender.received.endsWith('open-1'), 'the open direction before');
    await send(sender, 'lost');
    await afterPolls(HOPS);
    await send(receiver, 'open-2');
    await until(() => sender.received.endsWith('open-2'), 'the open direction after');
    expect(receiver.received).toBe(before);
    proxy.heal();
    await send(sender, 'after');
    await until(() => receiver.received.endsWith('after'), 'the healed direction');
    // Sent before it on the same connection, the dropped bytes would have come first.
    expect(receiver.received).toBe(before + 'after');
  });

  it('holds a FIN in a dropped direction until heal', async () => {
    const { slave, master } = await connected();
    await bothWays(slave, master);
    proxy.degrade({ direction: 'to-master', shape: { drop: true } });
    await finish(slave);
    await afterPolls(HOPS);
    expect(master.ended).toBe(false);
    // The slave's side is half-closed: it still reads.
    await send(master, 'still');
    await until(() => slave.received.endsWith('still'), 'the open direction');
    proxy.heal();
    await until(() => master.ended, 'the FIN at heal');
    expect(master.received).toBe(UP);
  });

  it('resets every connection both ways, held ones too, and lets new ones through', async () => {
    const { slave, master } = await connected();
    await bothWays(slave, master);
    proxy.cut();
    const held = await client();
    await afterPolls(HOPS);
    proxy.reset();
    await until(() => slave.closed && master.closed && held.closed, 'every end closed');
    expect([slave.error, master.error, held.error]).toEqual(['ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
    expect(proxy.connectionCount).toBe(0);
    proxy.heal();
    const again = await connected();
    await bothWays(again.slave, again.master);
  });

  it('heal ends the degradation; what was queued still arrives, first', async () => {
    const { slave, master } = await connected();
    proxy.degrade({ direction: 'both', shape: { delayMs: 300 } });
    await send(slave, 'queued');
    proxy.heal();
    expect(proxy.degradation).toBeUndefined();
    await send(slave, 'after');
    await send(master, 'back');
    await until(() => master.received === 'queued' + 'after' && slave.received === 'back', 'both ways after heal');
  });

  it('a cut on a degraded link drops what comes; heal ends both', async () => {
    const { slave, master } = await connected();
    await bothWays(slave, master);
    proxy.degrade({ direction: 'to-master', shape: { delayMs: 100 } });
    await send(slave, 'queued');
    // Read by the proxy, and queued (or, on a slow machine, passed on) before the cut.
    await afterPolls(HOPS);
    proxy.cut();
    await send(slave, 'lost');
    await afterPolls(HOPS);
    proxy.heal();
    await send(slave, 'after');
    await until(() => master.received.endsWith('after'), 'traffic after heal');
    expect(master.received).toBe(UP + 'queued' + 'after');
  });
});
