import type { Socket } from 'node:net';
import type { Master } from '../../src/master';
import { startInProcessMaster } from '../helpers/master';
import type { LogSink } from '../helpers/log-sink';
import { rawClient } from '../helpers/peers';
import { startInProcessSlave } from '../helpers/slave';

/**
 * A 300 ms interval: the fixed detector waits 3 of them (900 ms); phi with a
 * 50 ms deviation floor and no acceptable pause suspects a steady peer about
 * 300 + 5.2 × 50 = 560 ms after its last frame. The gap is wide enough for a
 * busy machine. (The default pause, 500 ms, would put phi past the cap.)
 */
const INTERVAL_MS = 300;
const PHI = { detector: 'phi', phiMinStdDevMs: 50, phiAcceptablePauseMs: 0 } as const;

const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A peer that beats by hand until `stop()`: a paused slave, without pausing anything. */
async function beatingPeer(master: Master, node: string): Promise<{ socket: Socket; stop: () => void }> {
  const socket = await rawClient(master.port);
  cleanups.push(() => socket.destroy());
  let seq = 1;
  socket.write(`{"type":"hello","node":"${node}","seq":${seq},"msg":"hi","interval_ms":${INTERVAL_MS}}\r`);
  const timer = setInterval(() => {
    seq += 1;
    socket.write(`{"type":"heartbeat","node":"${node}","seq":${seq},"msg":"beat"}\r`);
  }, INTERVAL_MS);
  cleanups.push(() => clearInterval(timer));
  return { socket, stop: () => clearInterval(timer) };
}

async function masterWith(
  options: Parameters<typeof startInProcessMaster>[0],
): Promise<{ master: Master; sink: LogSink }> {
  return startInProcessMaster(options, cleanups);
}

describe('the phi accrual detector in the master', () => {
  it('says which detector it uses, and with which parameters, when it listens', async () => {
    const { sink } = await masterWith({ ...PHI, phiThreshold: 10, phiAcceptablePauseMs: 20 });
    expect(await sink.waitForEvent('listening')).toMatchObject({
      detector: 'phi',
      phi_threshold: 10,
      phi_min_std_dev_ms: 50,
      phi_acceptable_pause_ms: 20,
    });
    const fixed = await masterWith({});
    const listening = await fixed.sink.waitForEvent('listening');
    expect(listening.detector).toBe('fixed');
    expect(listening).not.toHaveProperty('phi_threshold');
  });

  it('declares a peer that fell silent silent earlier than the fixed timeout does', async () => {
    const phi = await masterWith(PHI);
    const fixed = await masterWith({});
    const peers = [await beatingPeer(phi.master, 'p1'), await beatingPeer(fixed.master, 'f1')];
    // Ten beats each: phi's window has learnt the pace.
    await phi.sink.waitForEvent('message', { node: 'p1', seq: 11 }, 20_000);
    await fixed.sink.waitForEvent('message', { node: 'f1', seq: 11 }, 20_000);
    for (const peer of peers) peer.stop();

    const byPhi = await phi.sink.waitForEvent('disconnect', { node: 'p1' }, 10_000);
    const byFixed = await fixed.sink.waitForEvent('disconnect', { node: 'f1' }, 10_000);
    expect(byPhi).toMatchObject({ reason: 'timeout', detector: 'phi' });
    expect(byFixed).toMatchObject({ reason: 'timeout', detector: 'fixed' });
    expect(byFixed).not.toHaveProperty('phi');
    expect(byFixed.silent_ms).toBeGreaterThanOrEqual(3 * INTERVAL_MS);
    expect(byPhi.silent_ms).toBeLessThan(byFixed.silent_ms as number);
    expect(byPhi.phi).toBeGreaterThanOrEqual(8);
  });

  it('never disconnects a slave that keeps beating, while it does declare a silent one silent', async () => {
    const { master, sink } = await masterWith(PHI);
    const { slave } = startInProcessSlave(
      { masterPort: master.port, node: 'steady', heartbeatIntervalMs: INTERVAL_MS },
      cleanups,
    );
    await sink.waitForEvent('message', { node: 'steady', seq: 3 }, 10_000);
    // The detector is live: a peer that goes quiet in the meantime is declared silent.
    const quiet = await beatingPeer(master, 'quiet');
    quiet.stop();
    expect(await sink.waitForEvent('disconnect', { node: 'quiet' }, 10_000)).toMatchObject({ reason: 'timeout' });
    // Twenty beats more, about 6 s: many phi deadlines passed and were pushed back by frames.
    await sink.waitForEvent('message', { node: 'steady', seq: 23 }, 30_000);
    expect(sink.events('disconnect', 'steady')).toEqual([]);
    // Still judged after it: a second quiet peer is declared silent too, and the steady one is still connected.
    const quietAgain = await beatingPeer(master, 'quiet-2');
    quietAgain.stop();
    await sink.waitForEvent('disconnect', { node: 'quiet-2' }, 10_000);
    await sink.waitForEvent('message', { node: 'steady', seq: 26 }, 10_000);
    expect(sink.events('disconnect', 'steady')).toEqual([]);
    await slave.stop();
    expect(await sink.waitForEvent('disconnect', { node: 'steady' })).toMatchObject({ reason: 'closed' });
  }, 60_000);
});
