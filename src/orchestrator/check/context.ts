/**
 * What every phase of the checker shares: the run's times and settings, the
 * slacks it grants, and the small readers of raw log fields. Pure.
 */
import type { Inconclusive } from '../check-result';
import { isoMs } from '../run-logs';
import type { RunInfo } from '../types';

/**
 * Messages sent up to this long before a fault began (plus one heartbeat
 * interval for kill/stop/restart), or after it was confirmed, may be lost with
 * the connection: a killed container's network namespace goes away with
 * frames still in its socket buffer; a cut swallows what was on the wire.
 */
export const IN_FLIGHT_SLACK_MS = 500;

/**
 * After a cut or a pause ends, a slave may go on writing into a connection the
 * master already dropped until a write is refused or it reads the master's FIN;
 * messages it sends meanwhile are lost. In flight until the end plus this.
 */
export const CUT_RECOVERY_SLACK_MS = 2000;

/**
 * How far the master's timestamp for a message may precede the slave's `sent`
 * line for it: a slave stamps `sent` just after the write, and the two
 * processes read the clock separately (containers share the host's clock).
 */
export const CLOCK_SKEW_MS = 250;

/** The run as every phase sees it: run.json's times, parsed once. */
export interface RunContext {
  readonly info: RunInfo;
  readonly runStart: number;
  readonly runEnd: number;
  /** When the runner began tearing the cluster down: the scenario's end, or the interruption. */
  readonly scenarioEnd: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/** A timestamp in ms; NaN when it is not ISO. */
export const timeOf = isoMs;

/** Reads a timestamp; one that is not ISO adds an `invalid_run` to `problems` and reads as NaN. */
export function parseTime(value: unknown, where: string, problems: Inconclusive[]): number {
  const ms = timeOf(value);
  if (Number.isNaN(ms)) {
    problems.push({
      node: 'run',
      kind: 'invalid_run',
      detail: `${where}: timestamp ${JSON.stringify(value)} is not ISO`,
    });
  }
  return ms;
}

/** The run's context, and what of run.json cannot be judged (the interruption first among its own findings). */
export function runContext(info: RunInfo): { ctx: RunContext; inconclusive: Inconclusive[] } {
  const inconclusive: Inconclusive[] = [];
  const runStart = parseTime(info.startedAt, 'run.json startedAt', inconclusive);
  const runEnd = parseTime(info.endedAt, 'run.json endedAt', inconclusive);
  // The runner tears the cluster down (slaves, then the master) once the scenario's duration is over,
  // or as soon as the run is interrupted.
  const interruptedAt =
    info.interrupted === undefined ? Infinity : parseTime(info.interrupted.at, 'run.json interrupted.at', inconclusive);
  const ctx: RunContext = {
    info,
    runStart,
    runEnd,
    scenarioEnd: Math.min(runStart + info.durationMs, runEnd, interruptedAt),
    intervalMs: info.heartbeatIntervalMs,
    timeoutMs: info.heartbeatTimeoutMs,
  };
  if (info.interrupted !== undefined) {
    const { signal, at } = info.interrupted;
    inconclusive.push({
      node: 'run',
      kind: 'interrupted',
      detail: `the run was interrupted (${signal}) at ${rel(ctx, Date.parse(at))}, before its end at ${rel(
        ctx,
        runStart + info.durationMs,
      )}: what its teardown did is not the master's doing`,
    });
  }
  return { ctx, inconclusive };
}

/** `+1.540s` from the start of the run: easier to follow than ISO in a list. */
export function rel(ctx: RunContext, ms: number): string {
  if (!Number.isFinite(ms)) return 'never';
  const s = (ms - ctx.runStart) / 1000;
  return `${s < 0 ? '-' : '+'}${Math.abs(s).toFixed(3)}s`;
}

export const iso = (ms: number): string => (Number.isFinite(ms) ? new Date(ms).toISOString() : 'never');
export const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
export const int = (value: unknown): number | undefined =>
  Number.isSafeInteger(value) ? (value as number) : undefined;
/** A connection's key: the master incarnation that accepted it, and its `conn`. */
export const connKey = (masterIncarnation: number, conn: number): string => `${masterIncarnation}:${conn}`;
