/**
 * What the lateness benchmarks share: the two conditions measured in one run
 * (idle, and loaded by CPU-bound processes this process starts and stops), the
 * rounds that alternate them, and an interrupt that aborts a run and still
 * stops every child and removes every container.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fmt, tail } from './stats';

export const CONDITIONS = ['idle', 'loaded'] as const;
export type Condition = (typeof CONDITIONS)[number];

/** Busy processes in the `loaded` condition: one per core of the 2-core development machine. */
export const BUSY_PROCESSES = 2;

/** How busy the whole machine was during one condition's windows, whoever kept it busy. */
export interface MachineLoad {
  /** Share of all cores' time not idle, 0..1. */
  cpuBusy: number;
  /** The highest 1-minute load average seen at the start of a window. */
  loadAverage: number;
}

/** What a run aborted by SIGINT/SIGTERM rejects with. */
export class Interrupted extends Error {
  override name = 'Interrupted';
}

/** True for {@link Interrupted} and for the AbortError an aborted `once()` or timer rejects with. */
export function isInterrupted(err: unknown): boolean {
  return err instanceof Interrupted || (err instanceof Error && err.cause instanceof Interrupted);
}

/**
 * Turns SIGINT/SIGTERM into an aborted `signal`, so a run stops between steps
 * and its `finally` blocks stop children and remove containers. The hooks run
 * synchronously on exit: a second signal exits at once, and whatever a hook
 * owns must not outlive the process.
 */
export class Interrupt {
  private readonly controller = new AbortController();
  private readonly hooks = new Set<() => void>();
  private signals = 0;
  readonly signal = this.controller.signal;

  private readonly onSignal = (): void => {
    this.signals += 1;
    if (this.signals === 1) {
      console.error('interrupted: stopping children and removing containers (again to exit at once)');
      this.controller.abort(new Interrupted('interrupted'));
    } else {
      // A second Ctrl-C means now: the exit hooks do the synchronous part of the cleanup.
      process.exit(130);
    }
  };

  private readonly onExit = (): void => {
    for (const hook of this.hooks) hook();
  };

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    process.on('exit', this.onExit);
  }

  /** Runs `hook` synchronously if the process exits before the returned function removes it. */
  onExitSync(hook: () => void): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /** Throws the abort reason once a signal came. */
  check(): void {
    this.signal.throwIfAborted();
  }

  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
    if (this.signal.aborted) process.exitCode = 130;
  }
}

/** Started busy processes; `stop()` is idempotent and resolves once every one has exited. */
export interface BusyProcesses {
  stop(): Promise<void>;
}

/**
 * Starts `count` CPU-bound node processes and resolves once each one spins.
 * Each exits by itself when this process goes away (its IPC channel closes) or
 * after `maxMs`, so none is left running even if this process is SIGKILLed.
 */
export async function startBusyProcesses(count: number, maxMs: number, interrupt: Interrupt): Promise<BusyProcesses> {
  const children: ChildProcess[] = [];
  const killAll = (): void => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const unhook = interrupt.onExitSync(killAll);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const exits = children
        .filter((child) => child.exitCode === null && child.signalCode === null)
        .map((child) => once(child, 'exit'));
      killAll();
      await Promise.all(exits);
      unhook();
    })();
    return stopping;
  };
  try {
    for (let i = 0; i < count; i++) {
      const child = spawn(process.execPath, [join(__dirname, 'busy-loop.js'), String(maxMs)], {
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      children.push(child);
    }
    // Ready means spinning: each says so over IPC once its loop runs.
    await Promise.all(
      children.map((child) =>
        Promise.race([
          once(child, 'message', { signal: interrupt.signal }),
          once(child, 'exit', { signal: interrupt.signal }).then(([code, signal]) => {
            throw new Error(`busy process exited before spinning (${String(signal ?? code)})`);
          }),
        ]),
      ),
    );
    return { stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

/**
 * Runs `measure` once per condition per round, alternating which comes first
 * (idle, loaded; loaded, idle; …) so that whatever else the machine does
 * during the run falls on both alike. In `loaded`, the busy processes spin
 * for the whole call. Returns how busy the machine was in each condition.
 */
export async function inRounds(
  rounds: number,
  interrupt: Interrupt,
  measure: (condition: Condition, round: number) => Promise<void>,
  maxWindowMs: number,
): Promise<Record<Condition, MachineLoad>> {
  const sums = { idle: { busy: 0, total: 0, load: 0 }, loaded: { busy: 0, total: 0, load: 0 } };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? CONDITIONS : ([...CONDITIONS].reverse() as Condition[]);
    for (const condition of order) {
      interrupt.check();
      const load = loadavg()[0]!;
      const busy =
        condition === 'loaded' ? await startBusyProcesses(BUSY_PROCESSES, maxWindowMs, interrupt) : undefined;
      try {
        const before = cpuTimes();
        await measure(condition, round);
        const after = cpuTimes();
        const sum = sums[condition];
        sum.busy += after.busy - before.busy;
        sum.total += after.total - before.total;
        sum.load = Math.max(sum.load, load);
      } finally {
        await busy?.stop();
      }
    }
  }
  const machine = (c: Condition): MachineLoad => ({
    cpuBusy: sums[c].total > 0 ? sums[c].busy / sums[c].total : NaN,
    loadAverage: sums[c].load,
  });
  return { idle: machine('idle'), loaded: machine('loaded') };
}

/** A positive number from the environment, or `fallback`; anything else is an error naming the variable. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

/** One measured quantity, its samples per condition. */
export interface ConditionRow {
  label: string;
  samples: Record<Condition, number[]>;
}

/**
 * The table both lateness benchmarks print: per row, n, p50, p99, p99.9 and
 * max in each condition, then loaded / idle for each figure. With n < 1000
 * the p99.9 is the max (nearest rank).
 */
export function conditionTable(rows: ConditionRow[], digits: number): string[] {
  const width = Math.max(...rows.map((row) => row.label.length)) + 2;
  const cell = (value: number): string => fmt(value, digits).padStart(9);
  const out = [
    `  ${''.padEnd(width)}${'condition'.padEnd(10)}${'n'.padStart(7)}${['p50', 'p99', 'p99.9', 'max'].map((h) => h.padStart(9)).join('')}`,
  ];
  for (const row of rows) {
    const tails = { idle: tail(row.samples.idle), loaded: tail(row.samples.loaded) };
    for (const condition of CONDITIONS) {
      const t = tails[condition];
      const label = condition === 'idle' ? row.label : '';
      out.push(
        `  ${label.padEnd(width)}${condition.padEnd(10)}${fmt(t.n).padStart(7)}${[t.p50, t.p99, t.p999, t.max].map(cell).join('')}`,
      );
    }
    const ratio = (key: 'p50' | 'p99' | 'p999' | 'max'): string => {
      const idle = tails.idle[key];
      return (idle > 0 ? `${fmt(tails.loaded[key] / idle, 2)}×` : '–').padStart(9);
    };
    out.push(
      `  ${''.padEnd(width)}${'ratio'.padEnd(10)}${''.padStart(7)}${(['p50', 'p99', 'p999', 'max'] as const).map(ratio).join('')}`,
    );
  }
  return out;
}

/** Above this share of busy CPU time in the idle windows, the report says the machine was not idle. */
const NOT_IDLE_BUSY = 0.2;

/** One line on how busy the machine was in each condition (all cores, whoever used them). */
export function machineLine(load: Record<Condition, MachineLoad>): string {
  const pct = (value: number): string => `${fmt(value * 100)} %`;
  // Other processes' load lands in both conditions alike, but then idle is no floor: say so next to the figures.
  const warning =
    load.idle.cpuBusy > NOT_IDLE_BUSY ? '; NOT IDLE: other processes used the cores, so idle is no floor' : '';
  return `  machine CPU busy: idle windows ${pct(load.idle.cpuBusy)}, loaded windows ${pct(load.loaded.cpuBusy)} (1-min load average at a window's start up to ${fmt(load.idle.loadAverage, 1)} idle, ${fmt(load.loaded.loadAverage, 1)} loaded)${warning}`;
}
