/**
 * Memory of many slaves in one process: starts a master, then one
 * `picluster slave --replicas N` process for each N in `REPLICAS_LIST`
 * (default 1,100,1000), waits until the master has logged a hello from every
 * replica and `SETTLE_S` (default 5) seconds of heartbeats more, and prints
 * the slave process's RSS and peak RSS (`/proc/<pid>/status`), and per
 * replica. Heartbeat every second, acks on, as in a run.
 *
 *   npm run -s build && npx tsc -p tsconfig.bench.json && node .bench-build/bench/replicas-rss.js
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const HEARTBEAT_INTERVAL_MS = 1000;

/** `VmRSS` and `VmHWM` of a process, in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') * 1024, peak: kib('VmHWM') * 1024 };
}

/** Calls `onLine` with every JSON line `child` writes on stdout. */
function eachLine(child: ChildProcess, onLine: (line: Record<string, unknown>) => void): void {
  let rest = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    const lines = (rest + text).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('{')) onLine(JSON.parse(line) as Record<string, unknown>);
  });
}

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: '' } });
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await once(child, 'exit');
}

async function measure(replicas: number, settleMs: number): Promise<string> {
  const master = start(['master', '--port', '0', '--host', '127.0.0.1']);
  const hellos = new Set<unknown>();
  let onHello = (): void => undefined;
  const port = await new Promise<number>((resolve) =>
    eachLine(master, (line) => {
      if (line.event === 'listening') resolve(line.port as number);
      if (line.event === 'message' && line.type === 'hello') {
        hellos.add(line.node);
        onHello();
      }
    }),
  );
  const began = Date.now();
  const args = ['slave', '--id', 'r', '--replicas', String(replicas), '--master', `127.0.0.1:${port}`];
  const slaves = start([...args, '--heartbeat-interval-ms', String(HEARTBEAT_INTERVAL_MS)]);
  eachLine(slaves, () => undefined);
  await new Promise<void>((resolve) => (onHello = () => hellos.size === replicas && resolve()));
  const connectedMs = Date.now() - began;
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const { rss, peak } = memoryOf(slaves.pid!);
  const masterRss = memoryOf(master.pid!).rss;
  await stop(slaves);
  await stop(master);
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
  const kib = (bytes: number): string => (bytes / 1024).toFixed(0);
  return `| ${replicas} | ${mib(rss)} MiB | ${mib(peak)} MiB | ${kib(rss / replicas)} KiB | ${connectedMs} ms | ${mib(masterRss)} MiB |`;
}

async function main(): Promise<void> {
  const list = (process.env.REPLICAS_LIST ?? '1,100,1000').split(',').map(Number);
  const settleMs = Number(process.env.SETTLE_S ?? 5) * 1000;
  console.log('| replicas | slave process RSS | peak RSS | RSS per replica | all hellos after | master RSS |');
  console.log('|---|---|---|---|---|---|');
  for (const replicas of list) console.log(await measure(replicas, settleMs));
}

void main();
