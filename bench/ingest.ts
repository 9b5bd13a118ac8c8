import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { encodeFrame, heartbeatText, helloText, toFrame } from '../src/protocol';
import { fmt, median } from './stats';

const ROOT = join(__dirname, '..', '..');
const MASTER = [
  ...(process.env.MASTER_NODE_ARGS ? process.env.MASTER_NODE_ARGS.split(' ') : []),
  join(ROOT, 'dist', 'cli', 'main.js'),
  'master',
  '--port',
  '0',
  '--host',
  '127.0.0.1',
  // Each connection sends its 10,000 heartbeats at once: the benchmark measures throughput, not the limit.
  '--max-frames-per-second',
  '1000000000',
];

const SERVERS = {
  master: MASTER,
  // The same master with its Prometheus metrics on: every line also updates them.
  'master-metrics': [...MASTER, '--metrics-port', '0'],
  'winston-default': [join(__dirname, 'reference-servers.js'), 'winston-default'],
  'decode-only': [join(__dirname, 'reference-servers.js'), 'decode-only'],
} as const;
export type ServerKind = keyof typeof SERVERS;

/** The hello of a slave that asks for acks: the master then acks, and checks each seq against its ledger. */
function ackingHello(c: number): string {
  const node = `slave-${c + 1}`;
  return encodeFrame(toFrame({ type: 'hello', node, msg: helloText(node), acks: true, boot: `bench-${c}` }));
}

/** One run's rate, and for the master with acks, how many acks it sent back. */
interface IngestResult {
  rate: number;
  acks: number;
}

/** Counts newline-terminated lines on a child's stdout, and finds its port in the first JSON line. */
class LineCounter {
  lines = 0;
  port: Promise<number>;
  private target = Infinity;
  private onTarget: (() => void) | undefined;

  constructor(child: ChildProcess) {
    let head = '';
    let resolvePort!: (port: number) => void;
    this.port = new Promise((resolve) => (resolvePort = resolve));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (head !== undefined && head.length < 4096) {
        head += chunk.toString('utf8');
        const match = /"port":(\d+)/.exec(head);
        if (match) resolvePort(Number(match[1]));
      }
      let index = chunk.indexOf(10);
      while (index !== -1) {
        this.lines += 1;
        index = chunk.indexOf(10, index + 1);
      }
      if (this.lines >= this.target) this.onTarget?.();
    });
  }

  reach(target: number): Promise<void> {
    this.target = target;
    if (this.lines >= target) return Promise.resolve();
    return new Promise((resolve) => (this.onTarget = resolve));
  }
}

/** What 50 slaves blasting heartbeats send: one pre-encoded buffer per connection. */
function payloads(connections: number, perConnection: number): Buffer[] {
  return Array.from({ length: connections }, (_, c) => {
    const node = `slave-${c + 1}`;
    const frames: string[] = [];
    for (let seq = 1; seq <= perConnection; seq++) {
      frames.push(
        encodeFrame(toFrame({ type: 'heartbeat', node, seq, ts: 1764000000000 + seq, msg: heartbeatText(node) })),
      );
    }
    return Buffer.from(frames.join(''));
  });
}

/**
 * One run: start the server, connect every slave, then send everything and
 * time until the server has written one line per message (for `decode-only`,
 * until it reports it decoded them all).
 */
export async function ingestOnce(
  kind: ServerKind,
  data: Buffer[],
  perConnection: number,
  withAcks = false,
): Promise<IngestResult> {
  const total = data.length * perConnection;
  const [script, ...args] = SERVERS[kind];
  const isMaster = kind === 'master' || kind === 'master-metrics';
  const extra = isMaster ? [] : [String(total)];
  const child = spawn(process.execPath, [script, ...args, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const counter = new LineCounter(child);
    const port = await counter.port;
    let acks = 0;
    const sockets: Socket[] = await Promise.all(
      data.map(async (_, c) => {
        const socket = connect({ port, host: '127.0.0.1' });
        await once(socket, 'connect');
        // Read like a slave does: every frame back is an ack.
        socket.on('data', (chunk: Buffer) => {
          for (let i = chunk.indexOf(13); i !== -1; i = chunk.indexOf(13, i + 1)) acks += 1;
        });
        if (withAcks) socket.write(ackingHello(c));
        return socket;
      }),
    );
    // Lines before the messages: `listening`, plus one `connect` (and with acks one hello) per slave for the master.
    const before = isMaster ? 1 + data.length * (withAcks ? 2 : 1) : 1;
    await counter.reach(before);
    const expected = before + (kind === 'decode-only' ? 1 : total);
    const t0 = performance.now();
    sockets.forEach((socket, i) => socket.write(data[i]!));
    await counter.reach(expected);
    const seconds = (performance.now() - t0) / 1000;
    for (const socket of sockets) socket.destroy();
    return { rate: total / seconds, acks };
  } finally {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Each server runs `runs` times, in a rotated order, as a server's rate may
 * depend on which one ran just before it. Ratios are taken between the best
 * runs: on the 2-core machine a run lands at either about half or about the
 * full rate, whatever the server (e.g. 138 k or 255 k/s for the same master),
 * so a median of few runs says more about that coin than about the server.
 */
export async function reportIngest(connections = 50, perConnection = 10_000, runs = 6): Promise<string[]> {
  const data = payloads(connections, perConnection);
  const kinds = ['decode-only', 'winston-default', 'master', 'master-acks', 'master-metrics'] as const;
  const rates = new Map<(typeof kinds)[number], number[]>(kinds.map((k) => [k, []]));
  const acksSent: number[] = [];
  for (let run = 0; run < runs; run++) {
    for (const kind of [...kinds.slice(run % kinds.length), ...kinds.slice(0, run % kinds.length)]) {
      const result = await ingestOnce(
        kind === 'master-acks' ? 'master' : kind,
        data,
        perConnection,
        kind === 'master-acks',
      );
      rates.get(kind)!.push(result.rate);
      if (kind === 'master-acks') acksSent.push(result.acks);
    }
  }
  const rate = (kind: (typeof kinds)[number]): number => Math.max(...rates.get(kind)!);
  const shown = (kind: (typeof kinds)[number]): string =>
    `${fmt(rate(kind)).padStart(10)} (median ${fmt(median(rates.get(kind)!)).padStart(7)})`;
  const reference = rate('winston-default');
  const out = [
    `master ingest, ${connections} connections × ${fmt(perConnection)} heartbeats over loopback (best of ${runs} runs, every line counted):`,
  ];
  out.push(`  decode-only reference            ${shown('decode-only')} messages/s`);
  out.push(`  winston default JSON reference   ${shown('winston-default')} messages/s logged`);
  out.push(
    `  picluster master                 ${shown('master')} messages/s logged   ratio ${fmt(rate('master') / reference, 2)} × winston default (target ≥ 1.3)`,
  );
  const total = connections * perConnection;
  out.push(
    `  picluster master, acks on        ${shown('master-acks')} messages/s logged   ratio ${fmt(rate('master-acks') / rate('master'), 2)} × acks off (target ≥ 0.9); ${fmt(median(acksSent))} acks for ${fmt(total)} messages`,
  );
  out.push(
    `  picluster master, metrics on     ${shown('master-metrics')} messages/s logged   ratio ${fmt(rate('master-metrics') / rate('master'), 2)} × metrics off (target ≥ 0.95)`,
  );
  return out;
}
