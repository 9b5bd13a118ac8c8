/**
 * The master's state under hostile or long-lived use (`npm run bench ledger`):
 * (a) memory when peers bring ever new node ids, one acking hello per short
 * connection; (b) start-up time on a log of millions of lines, with the
 * ledger's checkpoint and without it (the reference: the whole log read).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DEFAULT_MASTER_OPTIONS } from '../src/master';
import { writeCheckpoint } from '../src/master/checkpoint';
import { SeqLedger } from '../src/master/ledger';
import { JsonLinesReader } from '../test/helpers/json-lines';
import { fmt } from './stats';

const MAIN = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const MIB = 1024 * 1024;

/** A master child process on a free loopback port, logging to `logFile`; `listenedMs` from spawn to `listening`. */
interface MasterChild {
  child: ChildProcess;
  port: number;
  listenedMs: number;
  /** The `recovered` line, if the master logged one. */
  recovered: Record<string, unknown> | undefined;
  /** `limit` lines about the ledger so far. */
  limitLines: number;
}

async function startMaster(logFile: string, extra: string[] = []): Promise<MasterChild> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [MAIN, 'master', '--port', '0', '--host', '127.0.0.1', '--log-file', logFile, ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let recovered: Record<string, unknown> | undefined;
  const master = { child, port: 0, listenedMs: 0, recovered, limitLines: 0 };
  master.port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`master exited with ${code} before listening`)));
    let listened = false;
    const head = new JsonLinesReader<Record<string, unknown>>((fields) => {
      if (listened) return;
      if (fields.event === 'recovered') recovered = fields;
      if (fields.event !== 'listening') return;
      listened = true;
      child.stdout!.off('data', onData);
      // Keep reading (a full pipe would stall the master): count the ledger's `limit` lines, show any other warning.
      child.stdout!.on('data', (more: Buffer) => {
        for (const text of more.toString('utf8').split('\n')) {
          if (text.includes('"limit":"ledger"')) master.limitLines += 1;
          else if (text.includes('"level":"warn"') || text.includes('"level":"error"')) console.error(text);
        }
      });
      resolve(fields.port as number);
    });
    const onData = (chunk: Buffer): void => head.push(chunk.toString('utf8'));
    child.stdout!.on('data', onData);
  });
  master.listenedMs = performance.now() - started;
  master.recovered = recovered;
  return master;
}

async function stopMaster({ child }: MasterChild): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** Peak and current resident memory of a process, in MiB, from `/proc/<pid>/status`. */
function memoryOf(pid: number): { peakMiB: number; rssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peakMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 };
}

/** One short connection: an acking hello of a new node id, its ack, a FIN. */
function helloOnce(port: number, node: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => {
      socket.write(
        JSON.stringify({
          type: 'hello',
          node,
          msg: `Hello World, I am client ${node}`,
          acks: true,
          boot: `b-${node}`,
        }) + '\r',
      );
    });
    socket.once('data', () => socket.end());
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
}

/** (a): `ids` distinct node ids, `parallel` connections at a time; the master's peak memory. */
async function distinctIds(dir: string, ids: number, parallel: number, extra: string[]): Promise<string> {
  const logFile = join(dir, `ids-${extra.length}.jsonl`);
  const master = await startMaster(logFile, extra);
  const before = memoryOf(master.child.pid!);
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids) await helloOnce(master.port, `hostile-${next++}`);
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const seconds = (performance.now() - started) / 1000;
  const after = memoryOf(master.child.pid!);
  await stopMaster(master);
  // And the restart on that log: from its checkpoint, as after any stop.
  const restart = await startMaster(logFile, extra);
  const restarted = memoryOf(restart.child.pid!);
  await stopMaster(restart);
  rmSync(logFile, { force: true });
  rmSync(`${logFile}.ledger`, { force: true });
  return (
    `  ${fmt(ids)} ids in ${fmt(seconds, 1)} s, ${extra.length === 0 ? 'default cap' : extra.join(' ')}: ` +
    `RSS ${fmt(before.rssMiB)} MiB at start, ${fmt(after.rssMiB)} MiB after, peak (VmHWM) ${fmt(after.peakMiB)} MiB, ` +
    `${master.limitLines} "limit" lines; ` +
    `restart: listening after ${fmt(restart.listenedMs)} ms, ${String(restart.recovered?.nodes)} nodes, peak ${fmt(restarted.peakMiB)} MiB`
  );
}

/**
 * A log as a master writes it: `nodes` slaves connect and say hello with
 * acks, send heartbeats in rounds until the log has `lines` lines, disconnect.
 */
async function writeLog(file: string, lines: number, nodes: number): Promise<void> {
  const out = createWriteStream(file);
  const at = (ms: number): string => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write(
    `{"timestamp":"${at(0)}","level":"info","event":"listening","message":"Listening on port 12345","port":12345,"host":"::"}\n`,
  );
  let chunk = '';
  for (let n = 1; n <= nodes; n++) {
    const node = `picluster-slave-${n}`;
    chunk +=
      `{"timestamp":"${at(n)}","level":"info","event":"connect","message":"Client connected","conn":${n},"remote":"10.0.0.${n % 250}:40000","node":"10.0.0.${n % 250}:40000"}\n` +
      `{"timestamp":"${at(n)}","level":"info","event":"message","message":"Received message: Hello World, I am client ${node}","node":"${node}","type":"hello","conn":${n},"acks":true,"boot":"${n}-1764000000000-abcdef"}\n`;
  }
  await write(chunk);
  const rounds = Math.max(1, Math.floor((lines - 1 - 3 * nodes) / nodes));
  for (let seq = 1; seq <= rounds; seq++) {
    chunk = '';
    const ts = at(seq * 5000);
    for (let n = 1; n <= nodes; n++) {
      chunk += `{"timestamp":"${ts}","level":"info","event":"message","message":"Received message: I am still alive, client: picluster-slave-${n}","node":"picluster-slave-${n}","seq":${seq},"type":"heartbeat","conn":${n}}\n`;
    }
    await write(chunk);
  }
  chunk = '';
  for (let n = 1; n <= nodes; n++) {
    chunk += `{"timestamp":"${at(rounds * 5000 + n)}","level":"info","event":"disconnect","message":"Client disconnected","node":"picluster-slave-${n}","seq":${rounds},"reason":"closed","conn":${n}}\n`;
  }
  await write(chunk);
  out.end();
  await once(out, 'close');
}

/** One start-up on `logFile`: time to `listening`, what the `recovered` line says, peak memory. */
async function startUp(label: string, logFile: string): Promise<string> {
  const master = await startMaster(logFile);
  const { peakMiB } = memoryOf(master.child.pid!);
  await stopMaster(master);
  const r = master.recovered ?? {};
  return (
    `  ${label.padEnd(46)} listening after ${fmt(master.listenedMs).padStart(6)} ms ` +
    `(recovery ${String(r.ms)} ms, ${fmt(Number(r.lines))} lines read, checkpoint ${String(r.checkpoint)}` +
    `${r.checkpoint_ignored === undefined ? '' : ` (${String(r.checkpoint_ignored)})`}), peak ${fmt(peakMiB)} MiB`
  );
}

/** (b): start-up on a log of `lines` lines, with and without its checkpoint. */
async function longLog(dir: string, lines: number, nodes: number, print: (line: string) => void): Promise<void> {
  const logFile = join(dir, 'long.jsonl');
  const t0 = performance.now();
  await writeLog(logFile, lines, nodes);
  print(
    `  log: ${fmt(lines)} lines, ${fmt(statSync(logFile).size / MIB)} MiB, ${fmt(nodes)} nodes (written in ${fmt((performance.now() - t0) / 1000, 1)} s)`,
  );
  // First start: no checkpoint yet (a master upgraded to this version); it writes one, and one at stop.
  print(await startUp('no checkpoint (the whole log read)', logFile));
  print(await startUp('with the checkpoint written at stop', logFile));
  // A master killed a checkpoint's worth of log bytes after its last checkpoint.
  const tailBytes = DEFAULT_MASTER_OPTIONS.checkpointBytes;
  // A new run: its hellos, then heartbeats with seqs above those in the checkpoint.
  const tail: string[] = [
    `{"timestamp":"2026-02-01T00:00:00.000Z","level":"info","event":"listening","message":"Listening on port 12345","port":12345,"host":"::"}\n`,
  ];
  for (let n = 1; n <= nodes; n++) {
    tail.push(
      `{"timestamp":"2026-02-01T00:00:00.000Z","level":"info","event":"message","message":"Received message: Hello World, I am client picluster-slave-${n}","node":"picluster-slave-${n}","type":"hello","conn":${n},"acks":true,"boot":"${n}-1764000000000-abcdef"}\n`,
    );
  }
  for (let i = 0, bytes = 0; bytes < tailBytes; i++) {
    const n = (i % nodes) + 1;
    const line = `{"timestamp":"2026-02-01T00:00:00.000Z","level":"info","event":"message","message":"Received message: I am still alive, client: picluster-slave-${n}","node":"picluster-slave-${n}","seq":${1000 + i},"type":"heartbeat","conn":${n}}\n`;
    tail.push(line);
    bytes += line.length;
  }
  const checkpoint = readFileSync(`${logFile}.ledger`);
  await appendFile(logFile, tail.join(''));
  print(await startUp(`checkpoint + ${fmt(tailBytes / MIB)} MiB of log after it (SIGKILL)`, logFile));
  // A torn checkpoint (a crash mid-write on a file system that does not order the rename after the data).
  writeFileSync(`${logFile}.ledger`, checkpoint.subarray(0, checkpoint.length >> 1));
  print(await startUp('torn checkpoint (ignored: the whole log read)', logFile));
  rmSync(logFile, { force: true });
  rmSync(`${logFile}.ledger`, { force: true });
}

/**
 * What one checkpoint costs the master, for a ledger of `nodes` ids: the
 * whole write, and the event loop's longest wait (the snapshot and its
 * serialization are synchronous).
 */
async function checkpointCost(dir: string, nodes: number): Promise<string> {
  const logFile = join(dir, `cost-${nodes}.jsonl`);
  writeFileSync(logFile, '{"event":"listening"}\n');
  const ledger = new SeqLedger();
  for (let n = 1; n <= nodes; n++) {
    ledger.hello(`picluster-slave-${n}`, `${n}-1764000000000-abcdef`);
    ledger.record(`picluster-slave-${n}`, 1);
  }
  // The longest the event loop waited during a write: the snapshot and its serialization are synchronous.
  // Three writes, the last one counts: the master writes them periodically, warm.
  let blockedMs = 0;
  let totalMs = 0;
  for (let run = 0; run < 3; run++) {
    blockedMs = 0;
    let last = performance.now();
    let writing = true;
    const tick = (): void => {
      const now = performance.now();
      blockedMs = Math.max(blockedMs, now - last);
      last = now;
      if (writing) setImmediate(tick);
    };
    setImmediate(tick);
    const started = performance.now();
    await writeCheckpoint(logFile, () => ({ entries: ledger.entries(), conns: [] }));
    writing = false;
    totalMs = performance.now() - started;
  }
  const bytes = statSync(`${logFile}.ledger`).size;
  return `  checkpoint of ${fmt(nodes)} nodes: ${fmt(bytes / 1024)} KiB written in ${fmt(totalMs, 1)} ms (with an fsync), event loop blocked at most ${fmt(blockedMs, 1)} ms`;
}

/**
 * `IDS` (default 200,000; 0 skips them) distinct ids, 200 connections at a time; `LOG_LINES`
 * (default 4,000,000; 0 skips them) lines for `LOG_NODES` (10,000) nodes. `UNCAPPED=1` also
 * runs the ids with the cap out of the way, for reference. Lines are printed
 * as they come: the whole takes minutes.
 */
export async function reportLedger(print: (line: string) => void = console.log): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-bench-ledger-'));
  const ids = Number(process.env.IDS ?? 200_000);
  const logLines = Number(process.env.LOG_LINES ?? 4_000_000);
  const logNodes = Number(process.env.LOG_NODES ?? 10_000);
  try {
    if (ids > 0) {
      print(`master state, ${fmt(ids)} distinct node ids, one acking hello per connection, 200 at a time:`);
      print(await distinctIds(dir, ids, 200, []));
      if (process.env.UNCAPPED === '1') print(await distinctIds(dir, ids, 200, ['--max-ledger-nodes', '10000000']));
    }
    print('ledger checkpoint, in this process:');
    for (const nodes of [10_000, 100_000]) print(await checkpointCost(dir, nodes));
    if (logLines > 0) {
      print(`master start-up on a long log (spawn to "listening"):`);
      await longLog(dir, logLines, logNodes, print);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
