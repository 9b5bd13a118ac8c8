/**
 * How late timers fire in a node process like the master's, idle and with
 * the machine's cores kept busy: the measured model behind the checker's
 * slack for a heartbeat-timeout timer that fires late. `npm run bench lateness`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  BUSY_PROCESSES,
  conditionTable,
  envNumber,
  inRounds,
  Interrupt,
  machineLine,
  type Condition,
} from './conditions';
import { fmt, median } from './stats';
import type { ProbeResult } from './timer-probe';

/** Rounds of (idle, loaded) windows; the order alternates per round. */
const ROUNDS = 3;
/** Timers of each kind that run side by side in the probe. */
const CHAINS = 20;
/** Dropped at the start of each probe: start-up, first compilations. */
const WARMUP_MS = 1000;

/** Runs one probe to its end; killed (and the run aborted) on an interrupt. */
async function runProbe(measureMs: number, interrupt: Interrupt): Promise<ProbeResult> {
  const child = spawn(
    process.execPath,
    [join(__dirname, 'timer-probe.js'), String(measureMs), String(WARMUP_MS), String(CHAINS)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const unhook = interrupt.onExitSync(() => child.kill('SIGKILL'));
  const kill = (): boolean => child.kill('SIGKILL');
  interrupt.signal.addEventListener('abort', kill);
  try {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    interrupt.check();
    if (code !== 0) throw new Error(`timer probe exited (${signal ?? code})`);
    return JSON.parse(out) as ProbeResult;
  } finally {
    interrupt.signal.removeEventListener('abort', kill);
    unhook();
  }
}

/**
 * Measures for `totalS` seconds in all, half idle and half loaded, in
 * {@link ROUNDS} rounds of one window each; the probe is a fresh process per window.
 */
export async function reportLateness(totalS = envNumber('PICLUSTER_BENCH_LATENESS_S', 60)): Promise<string[]> {
  const windowMs = (totalS * 1000) / (2 * ROUNDS);
  const samples = (): Record<Condition, number[]> => ({ idle: [], loaded: [] });
  const timeout250 = samples();
  const timeout1000 = samples();
  const intervalExcess = samples();
  const driftPerMin = samples();
  const interrupt = new Interrupt();
  const started = performance.now();
  try {
    const machine = await inRounds(
      ROUNDS,
      interrupt,
      async (condition) => {
        const result = await runProbe(windowMs, interrupt);
        timeout250[condition].push(...result.timeout250);
        timeout1000[condition].push(...result.timeout1000);
        intervalExcess[condition].push(...result.intervalExcess);
        driftPerMin[condition].push(...result.intervalDrift.map((d) => (d.driftMs / d.spanMs) * 60_000));
      },
      // A busy process outlives no window by much, whatever happens to this one.
      windowMs + WARMUP_MS + 30_000,
    );
    const seconds = (performance.now() - started) / 1000;
    const drift = (c: Condition): string =>
      `median ${fmt(median(driftPerMin[c]), 0)} ms/min (max ${fmt(Math.max(...driftPerMin[c]), 0)})`;
    return [
      `timer lateness in a child node process, fire time − due time in ms (${ROUNDS} rounds × ${fmt(windowMs / 1000, 1)} s idle + ${fmt(windowMs / 1000, 1)} s loaded = ${BUSY_PROCESSES} CPU-bound processes; ${CHAINS} timers of each kind side by side; ${fmt(seconds)} s):`,
      machineLine(machine),
      ...conditionTable(
        [
          { label: 'setTimeout 250 ms', samples: timeout250 },
          { label: 'setTimeout 1000 ms', samples: timeout1000 },
          { label: 'setInterval 250 ms, period − 250', samples: intervalExcess },
        ],
        2,
      ),
      `  setInterval 250 ms drift behind its schedule: idle ${drift('idle')}, loaded ${drift('loaded')}`,
    ];
  } finally {
    interrupt.dispose();
  }
}
