import { MUTATORS, MUTATOR_NAMES, lookalikesOf } from '../../fuzz/mutators';
import { loadCorpus, readReproducer, replaySteps, reproducerFiles, writeStep, type Step } from '../../fuzz/reproducer';
import { Rng } from '../../fuzz/rng';
import type { Master } from '../../src/master';
import { startInProcessMaster } from '../helpers/master';
import { rawClient } from '../helpers/peers';
import type { LogSink } from '../helpers/log-sink';

/**
 * What `npm run fuzz` found stays found: every reproducer it saved in
 * test/fixtures/fuzz/reproducers is replayed against an in-process master,
 * which must neither fail on it nor stop serving. The corpus is replayed too,
 * as it is and mutated, so this file tests something when no reproducer exists.
 */

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The in-process master's options for a reproducer's `picluster master` flags; ports and address are the test's. */
function optionsFromArgs(args: readonly string[]): Parameters<typeof startInProcessMaster>[0] {
  const options: Record<string, number> = {};
  const known: Record<string, string> = {
    '--max-frame-bytes': 'maxFrameBytes',
    '--max-frame-depth': 'maxFrameDepth',
    '--max-protocol-errors': 'maxProtocolErrors',
    '--heartbeat-timeout-ms': 'heartbeatTimeoutMs',
  };
  for (let i = 1; i < args.length; i += 2) {
    const flag = args[i]!;
    if (known[flag] !== undefined) options[known[flag]] = Number(args[i + 1]);
    else if (!['--port', '--host', '--health-port'].includes(flag)) throw new Error(`unknown master flag ${flag}`);
  }
  return options;
}

/** After the replay: nothing the master did was an internal error, and a new peer's frame is logged. */
async function expectServing(master: Master, sink: LogSink): Promise<void> {
  const peer = await rawClient(master.port);
  cleanups.push(() => peer.destroy());
  peer.write('{"type":"heartbeat","node":"after-the-replay","seq":1,"msg":"still serving"}\r');
  await sink.waitForEvent('message', { node: 'after-the-replay', seq: 1 }, 20_000);
  expect(sink.lines.filter((l) => l.reason === 'internal_error' || l.event === 'server_error')).toEqual([]);
}

/** Cuts `bytes` at a few random places: one write each. */
function splitWrites(rng: Rng, conn: number, bytes: Buffer): Step[] {
  const cuts = [...new Set(Array.from({ length: rng.int(0, 4) }, () => rng.int(1, bytes.length)))].sort(
    (a, b) => a - b,
  );
  const bounds = [0, ...cuts, bytes.length];
  return bounds.slice(1).map((end, i) => writeStep(conn, bytes.subarray(bounds[i], end)));
}

describe('fuzz corpus and reproducers, replayed', () => {
  const corpus = loadCorpus();

  it('logs each corpus frame, split at random places on a connection of its own, once', async () => {
    const { master, sink } = await startInProcessMaster({}, cleanups);
    const rng = new Rng(12);
    const steps = corpus.flatMap((frame, conn): Step[] => [
      { conn, op: 'open' },
      ...splitWrites(rng, conn, Buffer.concat([frame, Buffer.from('\r')])),
    ]);
    await replaySteps(steps, master.port);
    await sink.waitFor(() => sink.events('message').length >= corpus.length, 20_000);
    const messages = sink.events('message');
    // One per connection: every corpus frame is a valid message, whatever the split.
    expect(new Set(messages.map((l) => l.conn)).size).toBe(corpus.length);
    expect(sink.events('protocol_error')).toEqual([]);
    await expectServing(master, sink);
  }, 60_000);

  it('keeps serving after the corpus mutated by every mutator', async () => {
    const { master, sink } = await startInProcessMaster({ maxFrameBytes: 4096 }, cleanups);
    const rng = new Rng(34);
    const context = { rng, corpus, maxFrameBytes: 4096, lookalikeIds: lookalikesOf('replayed-slave') };
    const steps = MUTATOR_NAMES.flatMap((name, conn): Step[] => {
      const frames = corpus.map((frame) => Buffer.concat([MUTATORS[name](frame, context), Buffer.from('\r')]));
      return [{ conn, op: 'open' }, ...splitWrites(rng, conn, Buffer.concat(frames))];
    });
    await replaySteps(steps, master.port);
    await expectServing(master, sink);
    // The mutations were seen: most of them are refused, with a code each.
    expect(sink.events('protocol_error').length).toBeGreaterThan(MUTATOR_NAMES.length);
  }, 60_000);

  for (const file of reproducerFiles()) {
    it(`survives ${file.slice(file.lastIndexOf('/') + 1)}`, async () => {
      const reproducer = readReproducer(file);
      const { master, sink } = await startInProcessMaster(optionsFromArgs(reproducer.masterArgs), cleanups);
      await replaySteps(reproducer.steps, master.port);
      await expectServing(master, sink);
    }, 120_000);
  }
});
