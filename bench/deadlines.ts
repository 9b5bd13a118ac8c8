/**
 * The master's heartbeat deadlines at 10,000 idle connections (`npm run bench
 * deadlines`): the CPU time their timers cost with one Node timer per
 * session (each HeartbeatMonitor on the system clock, as the master has them)
 * and with one shared DeadlineQueue, as a ratio measured in the same run.
 *
 * No sockets: each variant runs in a child process of its own (a clean heap,
 * nothing shared), where 10,000 monitors of the fixed detector (timeout 3 s)
 * are touched once a second each, in 100 batches of 100 every 10 ms, as
 * 10,000 slaves beating at 1 s would. A baseline child runs the same driver
 * with the detectors alone (no monitor, no timer): a variant's timer cost is
 * its CPU time minus the baseline's. Rounds alternate the variants so that
 * the machine's load falls on each alike.
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../src/common';
import { DEADLINE_RESOLUTION_MS, DeadlineQueue } from '../src/master/deadline-queue';
import { FixedTimeoutDetector } from '../src/master/failure-detector';
import { HeartbeatMonitor } from '../src/master/heartbeat-monitor';
import { fmt, median } from './stats';

const SESSIONS = 10_000;
const INTERVAL_MS = 1000;
const TIMEOUT_MS = 3000;
const BATCHES = 100;
const VARIANTS = ['baseline', 'node-timers', 'deadline-queue'] as const;
type Variant = (typeof VARIANTS)[number];

/** What one child measured over its window. */
interface Sample {
  variant: Variant;
  cpuMs: number;
  windowMs: number;
  /** Sessions declared silent: must be 0, every session beats. */
  silent: number;
  heapMiB: number;
}

/** Runs one variant in this process and prints its {@link Sample} as JSON. */
async function child(variant: Variant, warmupMs: number, measureMs: number): Promise<void> {
  let silent = 0;
  const clock: Clock =
    variant === 'deadline-queue' ? new DeadlineQueue(systemClock, DEADLINE_RESOLUTION_MS) : systemClock;
  const touchers: Array<(now: number) => void> = [];
  const keepAlive: unknown[] = [];
  for (let i = 0; i < SESSIONS; i += 1) {
    const detector = new FixedTimeoutDetector(systemClock.now(), TIMEOUT_MS);
    if (variant === 'baseline') {
      touchers.push((now) => detector.arrived(now));
    } else {
      const monitor = new HeartbeatMonitor(clock, detector, () => (silent += 1));
      keepAlive.push(monitor);
      touchers.push((now) => monitor.touch(now));
    }
  }
  let batch = 0;
  const driver = setInterval(() => {
    const now = systemClock.now();
    for (let i = batch; i < SESSIONS; i += BATCHES) touchers[i]!(now);
    batch = (batch + 1) % BATCHES;
  }, INTERVAL_MS / BATCHES);
  await new Promise((resolve) => setTimeout(resolve, warmupMs));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, measureMs));
  const cpu = process.cpuUsage(cpu0);
  const windowMs = performance.now() - t0;
  clearInterval(driver);
  const heapMiB = process.memoryUsage().heapUsed / 1024 / 1024;
  const sample: Sample = { variant, cpuMs: (cpu.user + cpu.system) / 1000, windowMs, silent, heapMiB };
  console.log(JSON.stringify(sample));
  // The monitors' timers are unref'd, the queue's too: nothing else keeps this child alive.
  process.exit(0);
}

function runChild(variant: Variant, warmupMs: number, measureMs: number): Sample {
  const result = spawnSync(process.execPath, [__filename, 'child', variant, String(warmupMs), String(measureMs)], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`bench child ${variant} failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Sample;
}

/** `npm run bench deadlines`: the table of CPU per variant and the ratio. */
export function reportDeadlines(): string[] {
  const seconds = Number(process.env.PICLUSTER_BENCH_DEADLINES_S ?? 10);
  const rounds = Number(process.env.PICLUSTER_BENCH_DEADLINES_ROUNDS ?? 3);
  const samples = new Map<Variant, Sample[]>(VARIANTS.map((v) => [v, []]));
  for (let round = 0; round < rounds; round += 1) {
    // Rotated each round: no variant always runs first on a warming machine.
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
    for (const variant of order) samples.get(variant)!.push(runChild(variant, 4000, seconds * 1000));
  }
  const cpuPerSecond = (v: Variant): number => median(samples.get(v)!.map((s) => (s.cpuMs / s.windowMs) * 1000));
  const base = cpuPerSecond('baseline');
  const lines = [
    `Heartbeat deadlines: ${fmt(SESSIONS)} idle sessions beating every ${INTERVAL_MS} ms, timeout ${TIMEOUT_MS} ms; ` +
      `${rounds} rounds of ${seconds} s per variant, medians`,
    '',
    '| variant | CPU ms per s | timer cost, CPU ms per s (minus baseline) | heap MiB | sessions declared silent |',
    '|---|---|---|---|---|',
  ];
  for (const variant of VARIANTS) {
    const cpu = cpuPerSecond(variant);
    const heap = median(samples.get(variant)!.map((s) => s.heapMiB));
    const silent = samples.get(variant)!.reduce((sum, s) => sum + s.silent, 0);
    lines.push(
      `| ${variant} | ${fmt(cpu, 1)} | ${variant === 'baseline' ? '-' : fmt(cpu - base, 1)} | ${fmt(heap, 1)} | ${silent} |`,
    );
  }
  const ratio = (cpuPerSecond('deadline-queue') - base) / (cpuPerSecond('node-timers') - base);
  lines.push('', `timer cost of the deadline queue / one Node timer per session: ${fmt(ratio, 2)}`);
  return lines;
}

if (process.argv[2] === 'child') {
  const [, , , variant, warmupMs, measureMs] = process.argv;
  void child(variant as Variant, Number(warmupMs), Number(measureMs));
}
