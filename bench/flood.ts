/**
 * A good slave's latency beside peers that flood the master
 * (`npm run bench flood`). One master build, four runs of the same length:
 * the good slave alone (the reference), beside four flooding peers with the
 * master's default limits, beside them with no frame rate limit (what
 * bounded reading alone achieves), and beside flooders that never read their
 * acks (what the master must not buffer for them). The good slave is an acking peer that
 * sends a numbered heartbeat every 10 ms and times, per message, the lag to
 * its `message` line (the master's timestamp, same machine clock) and the
 * round trip to its ack.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FrameDecoder, encodeFrame, heartbeatText, helloText, toAck, toFrame } from '../src/protocol';
import { fmt, tail, type Tail } from './stats';

const ROOT = join(__dirname, '..', '..');
const RUN_MS = 10_000;
const GOOD_INTERVAL_MS = 10;
const BLASTERS = 4;
const GOOD = 'good';

interface RunResult {
  lag: Tail;
  ackRtt: Tail;
  /** Good messages sent, and those never logged. */
  sent: number;
  missing: number;
  /** Disconnects of the good slave other than its own close: the master never has a reason for one. */
  closedByMaster: number;
  linesPerSecond: number;
  rateLimited: number;
  blasterFrames: number;
  masterPeakRssMiB: number;
}

/** Reads the master's stdout: counts lines, finds its port, and hands on the good slave's lines. */
function watchMaster(master: ChildProcess, onGoodLine: (line: Record<string, unknown>) => void) {
  const counts = { lines: 0, rateLimited: 0 };
  let rest = '';
  const port = new Promise<number>((resolve) => {
    master.stdout!.on('data', (chunk: Buffer) => {
      const text = rest + chunk.toString('utf8');
      const end = text.lastIndexOf('\n');
      rest = text.slice(end + 1);
      for (
        let start = 0, nl = text.indexOf('\n');
        nl !== -1 && nl <= end;
        start = nl + 1, nl = text.indexOf('\n', start)
      ) {
        counts.lines += 1;
        const line = text.slice(start, nl);
        if (line.includes('"rate_limited"')) counts.rateLimited += 1;
        if (line.includes('"event":"listening"')) resolve(Number(/"port":(\d+)/.exec(line)![1]));
        if (line.includes(`"node":"${GOOD}"`)) onGoodLine(JSON.parse(line) as Record<string, unknown>);
      }
    });
  });
  return { counts, port };
}

/** The good slave: an acking hello, then one numbered heartbeat every interval. */
async function runGoodSlave(port: number, until: number, lagOf: Map<number, number>) {
  const sentAt = new Map<number, { wall: number; mono: number }>();
  const ackRtt: number[] = [];
  let acked = 0;
  const socket: Socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  const decoder = new FrameDecoder({
    frame: (value) => {
      const ack = toAck(value);
      if (ack === undefined) return;
      const now = performance.now();
      for (let seq = acked + 1; seq <= ack.seq; seq++) ackRtt.push(now - sentAt.get(seq)!.mono);
      acked = Math.max(acked, ack.seq);
    },
    error: () => undefined,
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  await once(socket, 'connect');
  socket.write(encodeFrame(toFrame({ type: 'hello', node: GOOD, msg: helloText(GOOD), acks: true, boot: 'bench' })));
  let seq = 0;
  while (Date.now() < until && !socket.destroyed) {
    seq += 1;
    sentAt.set(seq, { wall: Date.now(), mono: performance.now() });
    socket.write(encodeFrame(toFrame({ type: 'heartbeat', node: GOOD, seq, msg: heartbeatText(GOOD) })));
    await new Promise((resolve) => setTimeout(resolve, GOOD_INTERVAL_MS));
  }
  // Every message's ack, however late: the lag tail is what is measured.
  while (acked < seq && !socket.destroyed) await new Promise((resolve) => setTimeout(resolve, 50));
  socket.end();
  // Acked lines are in the master's stdout pipe: give the reader a moment to get to them.
  for (let waited = 0; lagOf.size < seq && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  const lag = [...sentAt].filter(([s]) => lagOf.has(s)).map(([s, at]) => lagOf.get(s)! - at.wall);
  return { sent: seq, lag, ackRtt, missing: seq - lagOf.size };
}

function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

async function floodRun(blasters: number, masterArgs: string[], blasterArgs: string[]): Promise<RunResult> {
  const master = spawn(
    process.execPath,
    [join(ROOT, 'dist', 'cli', 'main.js'), 'master', '--port', '0', '--host', '127.0.0.1', ...masterArgs],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lagOf = new Map<number, number>();
  let closedByMaster = 0;
  const { counts, port: portPromise } = watchMaster(master, (line) => {
    if (line.event === 'message' && typeof line.seq === 'number')
      lagOf.set(line.seq, Date.parse(String(line.timestamp)));
    if (line.event === 'disconnect' && line.reason !== 'closed') closedByMaster += 1;
  });
  let blaster: ChildProcess | undefined;
  try {
    const port = await portPromise;
    if (blasters > 0) {
      blaster = fork(join(__dirname, 'blaster.js'), [String(port), String(blasters), ...blasterArgs]);
      await once(blaster, 'message');
    }
    const linesBefore = counts.lines;
    const t0 = performance.now();
    const good = await runGoodSlave(port, Date.now() + RUN_MS, lagOf);
    const seconds = (performance.now() - t0) / 1000;
    let blasterFrames = 0;
    if (blaster !== undefined) {
      blaster.send('totals');
      const [totals] = (await once(blaster, 'message')) as [{ frames: number }];
      blasterFrames = totals.frames;
    }
    const masterPeakRssMiB = peakRssMiB(master.pid!);
    return {
      lag: tail(good.lag),
      ackRtt: tail(good.ackRtt),
      sent: good.sent,
      missing: good.missing,
      closedByMaster,
      linesPerSecond: (counts.lines - linesBefore) / seconds,
      rateLimited: counts.rateLimited,
      blasterFrames,
      masterPeakRssMiB,
    };
  } finally {
    blaster?.disconnect();
    const exited = once(master, 'exit');
    master.kill('SIGTERM');
    await exited;
  }
}

export async function reportFlood(): Promise<string[]> {
  const noRateLimit = ['--max-frames-per-second', '1000000000'];
  const runs: Array<[string, number, string[], string[]]> = [
    ['alone (reference)', 0, [], []],
    [`beside ${BLASTERS} flooders, default limits`, BLASTERS, [], []],
    [`beside ${BLASTERS} flooders, no rate limit`, BLASTERS, noRateLimit, []],
    [`beside ${BLASTERS} never-reading flooders`, BLASTERS, noRateLimit, ['never-read']],
  ];
  const out = [
    `a good slave (a heartbeat every ${GOOD_INTERVAL_MS} ms, acks on) for ${RUN_MS / 1000} s per run; lag = its message line's timestamp − send time; ms:`,
    `  ${'run'.padEnd(40)} ${'lag p50/p99/max'.padStart(18)} ${'ack rtt p50/p99/max'.padStart(22)}  lost  closed  lines/s  rate_limited  master peak RSS`,
  ];
  let reference: RunResult | undefined;
  for (const [name, blasters, args, blasterArgs] of runs) {
    const r = await floodRun(blasters, args, blasterArgs);
    reference ??= r;
    const t = (x: Tail): string => `${fmt(x.p50)}/${fmt(x.p99)}/${fmt(x.max)}`;
    out.push(
      `  ${name.padEnd(40)} ${t(r.lag).padStart(18)} ${t(r.ackRtt).padStart(22)}  ${String(r.missing).padStart(4)}  ${String(r.closedByMaster).padStart(6)}  ${fmt(r.linesPerSecond).padStart(7)}  ${String(r.rateLimited).padStart(12)}  ${fmt(r.masterPeakRssMiB)} MiB` +
        (r === reference ? '' : `   (max lag ${fmt(r.lag.max / Math.max(1, reference.lag.max), 1)} × alone)`),
    );
  }
  out.push(
    '  "closed": connections of the good slave closed by the master (must be 0); "lost": never logged (must be 0).',
  );
  return out;
}
