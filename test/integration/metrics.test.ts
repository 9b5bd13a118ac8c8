import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { Master } from '../../src/master';
import { CLI, CliProcess, expectUsageError } from '../helpers/cli';
import { LogSink, type LogLine } from '../helpers/log-sink';
import { startInProcessMaster } from '../helpers/master';
import { httpGet, scrape } from '../helpers/metrics-text';
import { handPeer } from '../helpers/peers';
import { startInProcessSlave } from '../helpers/slave';
import { pollUntil, waitUntil } from '../helpers/wait';

jest.setTimeout(60_000);

const P = 'picluster_master_';
const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What the master's log says each metric must be: counted line by line, without prom-client. */
function expectedFromLog(lines: readonly LogLine[]) {
  const of = (event: string): LogLine[] => lines.filter((l) => l.event === event);
  const tally = (keys: string[]): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const key of keys) counts[key] = (counts[key] ?? 0) + 1;
    return counts;
  };
  const knownTypes = new Set(['hello', 'heartbeat', 'legacy']);
  const errors: Record<string, number> = {};
  for (const line of of('protocol_error')) {
    const codes = (line.codes as Record<string, number> | undefined) ?? { [line.code as string]: 1 };
    for (const [code, n] of Object.entries(codes)) errors[code] = (errors[code] ?? 0) + n;
  }
  const beatsByConn = new Map<unknown, number[]>();
  for (const line of of('message').filter((l) => l.type === 'heartbeat')) {
    beatsByConn.set(line.conn, [...(beatsByConn.get(line.conn) ?? []), Date.parse(line.timestamp as string)]);
  }
  const intervals = [...beatsByConn.values()].flatMap((times) => times.slice(1).map((t, i) => t - times[i]!));
  const timeouts = of('disconnect').filter((l) => l.reason === 'timeout' && typeof l.silent_ms === 'number');
  return {
    accepted: of('connect').length,
    open: of('connect').length - of('disconnect').length,
    messages: tally(of('message').map((l) => (knownTypes.has(l.type as string) ? (l.type as string) : 'other'))),
    disconnects: tally(of('disconnect').map((l) => l.reason as string)),
    errors,
    duplicates: of('disconnect').reduce((sum, l) => sum + ((l.duplicates as number | undefined) ?? 0), 0),
    gaps: of('gap').length,
    lost: of('gap').reduce((sum, l) => sum + (l.to as number) - (l.from as number) + 1, 0),
    intervals,
    detections: timeouts.map((l) => (l.silent_ms as number) / 1000),
  };
}

/** The counters of a scrape, the zeros left out (the log has no line for what did not happen). */
const nonZero = (counts: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0));

describe('the master’s metrics (GET /metrics)', () => {
  it('agree with the lines of its log: messages, acks, a resend, a protocol error, a gap, a timeout and closes', async () => {
    const { master, sink } = await startInProcessMaster({ metricsPort: 0, maxProtocolErrors: 100 }, cleanups);
    const metricsPort = master.metricsPort!;
    expect(await sink.waitForEvent('listening')).toMatchObject({ metrics_port: metricsPort });

    // Two real slaves: hellos, heartbeats, acks.
    const slaves = ['s1', 's2'].map(
      (node) => startInProcessSlave({ masterPort: master.port, node, heartbeatIntervalMs: 100 }, cleanups).slave,
    );
    // A peer that resends 2 and 3 (deduplicated), then jumps to 6 (a resend request) and skips 4-5 (a gap).
    const acking = await handPeer(master.port, 'acking');
    acking.hello({ acks: true, boot: 'b1' });
    acking.beats(1, 2, 3, 2, 3);
    await sink.waitForEvent('message', { node: 'acking', seq: 3 });
    acking.beats(6);
    await waitUntil(
      () => acking.resends.length > 0,
      10_000,
      () => `resend requests: ${acking.resends.join(',')}`,
    );
    acking.write({ type: 'skip', node: 'acking', to: 5 });
    acking.beats(6);
    await sink.waitForEvent('gap', { node: 'acking' });
    await sink.waitForEvent('message', { node: 'acking', seq: 6 });
    // A hostile peer: bad frames, and a type the protocol does not know.
    const hostile = await handPeer(master.port, 'hostile');
    hostile.raw('not json\r[1]\r{"msg": 5}\r');
    hostile.write({ type: 'status', node: 'hostile', msg: 'a type of its own' }, { msg: 'the seed format' });
    await sink.waitForEvent('message', { node: 'hostile', type: 'legacy' });
    // A peer that says hello, announces 100 ms heartbeats and then says nothing: a timeout after 300 ms.
    const silent = await handPeer(master.port, 'silent');
    silent.hello({ interval_ms: 100 });

    // While they are connected, the gauge says so (no event announces a scrape's view: poll).
    await pollUntil(
      async () => ((await scrape(metricsPort)).value(`${P}connections_open`) >= 4 ? true : undefined),
      10_000,
      'connections_open never reached 4',
    );
    await sink.waitForEvent('disconnect', { node: 'silent', reason: 'timeout' }, 10_000);
    // Heartbeat inter-arrivals to compare: at least 4 beats per real slave, however fast the rest went.
    const beatsOf = (node: string): number =>
      sink.events('message').filter((l) => l.node === node && l.type === 'heartbeat').length;
    await sink.waitFor(() => beatsOf('s1') >= 4 && beatsOf('s2') >= 4, 10_000);
    for (const slave of slaves) await slave.stop();
    await acking.close();
    await hostile.close();
    for (const node of ['s1', 's2', 'acking', 'hostile']) await sink.waitForEvent('disconnect', { node }, 10_000);
    await silent.close();
    // Every connection has ended and logged it: no line comes any more until the master stops.
    await sink.waitFor(() => sink.events('disconnect').length === sink.events('connect').length, 10_000);

    const got = await scrape(metricsPort);
    const want = expectedFromLog(sink.lines);
    // The test produced what it meant to, so the comparison below is not of zeros.
    // (A slave the machine stalled past its timeout reconnects: more hellos and timeouts, still agreeing.)
    expect(want.messages).toMatchObject({ other: 1, legacy: 1 });
    expect(want.messages.hello).toBeGreaterThanOrEqual(4);
    expect(want.messages.heartbeat).toBeGreaterThan(4);
    expect(want.disconnects.timeout).toBeGreaterThanOrEqual(1);
    expect(want.disconnects.closed).toBeGreaterThanOrEqual(2);
    expect(want).toMatchObject({ duplicates: 2, gaps: 1, lost: 2, open: 0 });
    expect(Object.keys(want.errors).length).toBeGreaterThanOrEqual(2);
    expect(want.intervals.length).toBeGreaterThan(4);

    expect(got.value(`${P}connections_accepted_total`)).toBe(want.accepted);
    expect(got.value(`${P}connections_open`)).toBe(want.open);
    expect(nonZero(got.byLabel(`${P}messages_received_total`, 'type'))).toEqual(want.messages);
    expect(nonZero(got.byLabel(`${P}disconnects_total`, 'reason'))).toEqual(want.disconnects);
    expect(nonZero(got.byLabel(`${P}protocol_errors_total`, 'code'))).toEqual(want.errors);
    expect(got.value(`${P}resends_deduplicated_total`)).toBe(want.duplicates);
    expect(got.value(`${P}gaps_total`)).toBe(want.gaps);
    expect(got.value(`${P}messages_lost_total`)).toBe(want.lost);
    expect(got.value(`${P}detection_seconds_count`)).toBe(want.detections.length);
    expect(got.value(`${P}detection_seconds_sum`)).toBeCloseTo(
      want.detections.reduce((a, b) => a + b, 0),
      6,
    );
    expect(Math.min(...want.detections)).toBeGreaterThanOrEqual(0.3);
    expect(got.value(`${P}heartbeat_interarrival_seconds_count`)).toBe(want.intervals.length);
    // The log's timestamps and the metrics' clock are read a moment apart: 2 ms per interval at most.
    const logSumS = want.intervals.reduce((a, b) => a + b, 0) / 1000;
    expect(Math.abs(got.value(`${P}heartbeat_interarrival_seconds_sum`) - logSumS)).toBeLessThanOrEqual(
      0.002 * want.intervals.length,
    );
    expect(got.value(`${P}acks_sent_total`)).toBeGreaterThanOrEqual(acking.acks.length + acking.resends.length);

    await master.stop();
    await expect(httpGet(metricsPort, '/metrics')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('count every ack a peer gets, resend requests too', async () => {
    const { master } = await startInProcessMaster({ metricsPort: 0 }, cleanups);
    const peers = await Promise.all(['a', 'b'].map((node) => handPeer(master.port, node)));
    const [a, b] = peers as [Awaited<ReturnType<typeof handPeer>>, Awaited<ReturnType<typeof handPeer>>];
    const received = (): number => peers.reduce((sum, p) => sum + p.acks.length + p.resends.length, 0);
    const until = (check: () => boolean): Promise<void> =>
      waitUntil(check, 10_000, () => `acks ${JSON.stringify(peers.map((p) => [p.acks, p.resends]))}`);
    for (const peer of peers) {
      peer.hello({ acks: true, boot: 'b1' });
      await until(() => peer.acks.includes(0));
    }
    a.beats(1, 2);
    await until(() => a.acks.includes(2));
    b.beats(1);
    await until(() => b.acks.includes(1));
    b.beats(3);
    await until(() => b.resends.length === 1);
    // Acks go out once their lines are written; a peer has each once its socket read it.
    const sent = await pollUntil(
      async () => {
        const value = (await scrape(master.metricsPort!)).value(`${P}acks_sent_total`);
        return value === received() ? value : undefined;
      },
      10_000,
      () => `received ${received()}`,
    );
    expect(sent).toBe(5);
    for (const peer of peers) await peer.close();
  });

  it('is off by default: no metrics port, and the listening line names none', async () => {
    const { master, sink } = await startInProcessMaster({}, cleanups);
    expect(master.metricsPort).toBeUndefined();
    expect(master.metrics).toBeUndefined();
    expect(await sink.waitForEvent('listening')).not.toHaveProperty('metrics_port');
    // The master itself serves: a peer's hello is logged.
    const socket = connect({ port: master.port, host: '127.0.0.1' });
    socket.write('{"msg": "hi"}\r');
    await sink.waitForEvent('message', { type: 'legacy' });
    socket.destroy();
  });

  it('refuses to start when the metrics port is taken; the master on it goes on serving', async () => {
    const { master: first } = await startInProcessMaster({ metricsPort: 0 }, cleanups);
    const second = new Master({ port: 0, host: '127.0.0.1', metricsPort: first.metricsPort! }, new LogSink().log);
    cleanups.push(() => second.stop());
    await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const build = (await scrape(first.metricsPort!)).byLabel('picluster_build_info', 'arch');
    expect(build).toEqual({ [process.arch]: 1 });
  });

  it('picluster master: METRICS_PORT (or --metrics-port) serves them, and SIGTERM still exits 0', async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
    const master = new CliProcess(['master', '--port', '0', '--host', '127.0.0.1'], { METRICS_PORT: '0' });
    cleanups.push(() => master.kill('SIGKILL'));
    const listening = await master.waitForEvent('listening');
    const metricsPort = listening.metrics_port as number;
    expect(metricsPort).toBeGreaterThan(0);
    const peer = await handPeer(listening.port as number, 'cli-peer');
    peer.hello();
    await master.waitForEvent('message', { node: 'cli-peer' });
    const got = await scrape(metricsPort);
    expect(got.value(`${P}messages_received_total`, { type: 'hello' })).toBe(master.events('message').length);
    expect(got.value('process_open_fds')).toBeGreaterThan(0);
    master.kill('SIGTERM');
    expect(await master.exited).toEqual({ code: 0, signal: null });
    await peer.close();
    await expectUsageError(
      ['master', '--metrics-port', '70000'],
      {},
      '--metrics-port must be an integer from 0 to 65535',
    );
  });
});
