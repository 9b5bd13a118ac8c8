/**
 * Open files on the local backend: the master holds a descriptor per slave
 * connection, the runner one per log it writes at once. Both are checked
 * before anything starts, so that a large scenario fails with the limit named
 * rather than with connections refused half-way through.
 */
import { readFileSync } from 'node:fs';
import { RunError } from '../backend';

/**
 * The master's descriptors beyond one per slave: its own (stdio, log files,
 * listening sockets, libuv's) and room for a slave's next connection while
 * the master has not yet seen its last one close.
 */
export const MASTER_DESCRIPTOR_HEADROOM = 1024;
/** The runner's beyond the slave logs it writes at once: the master's log, the pipes of every process, the fault proxies of a few. */
export const RUNNER_DESCRIPTOR_HEADROOM = 256;

/** The master's own `--max-connections` default, which a run never lowers. */
const MASTER_DEFAULT_MAX_CONNECTIONS = 10_000;

/**
 * The master's `--max-connections` for `slaves` slaves: room for each one's
 * connection and for its next while the master has not yet seen the last one
 * close (a cut slave's, until the timeout), within the descriptors
 * {@link masterOpenFiles} makes sure it has.
 */
export function masterMaxConnections(slaves: number): number {
  return Math.max(MASTER_DEFAULT_MAX_CONNECTIONS, slaves + MASTER_DESCRIPTOR_HEADROOM / 2);
}

/** A process's limit on open files (`ulimit -n`); `Infinity` for `unlimited`. */
export interface OpenFilesLimits {
  soft: number;
  hard: number;
}

/** This process's limits, from `/proc/self/limits` (Linux); undefined where that cannot be read. */
export function openFilesLimits(
  read: (file: string) => string = (file) => readFileSync(file, 'utf8'),
): OpenFilesLimits | undefined {
  let text: string;
  try {
    text = read('/proc/self/limits');
  } catch {
    return undefined;
  }
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (match === null) return undefined;
  const value = (field: string): number => (field === 'unlimited' ? Infinity : Number(field));
  return { soft: value(match[1]!), hard: value(match[2]!) };
}

function tooFew(who: string, slaves: number, need: number, limits: OpenFilesLimits): RunError {
  const advice = limits.hard >= need ? `: run \`ulimit -n ${need}\` first` : ` and its hard limit ${limits.hard}`;
  return new RunError(
    'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
    `${slaves} slaves need ${need} open files in ${who}, but the open-files limit (ulimit -n) is ${limits.soft}${advice}`,
  );
}

/**
 * The `ulimit -n` the master must be started under for `slaves` slaves:
 * undefined when the soft limit it inherits from the runner is enough, else
 * what it needs, which the hard limit allows. Throws
 * (`PICLUSTER_ERR_BACKEND_UNAVAILABLE`) naming the limit when the hard limit
 * is too low for the master, or the soft one for the runner itself, which
 * keeps `runnerLogs` slave logs open at once (default: every slave's) and
 * cannot raise its own limit.
 */
export function masterOpenFiles(
  slaves: number,
  limits: OpenFilesLimits | undefined,
  runnerLogs = slaves,
): number | undefined {
  if (limits === undefined) return undefined;
  const runnerNeed = runnerLogs + RUNNER_DESCRIPTOR_HEADROOM;
  if (limits.soft < runnerNeed) throw tooFew(`the runner (${runnerLogs} logs at once)`, slaves, runnerNeed, limits);
  const masterNeed = slaves + MASTER_DESCRIPTOR_HEADROOM;
  if (limits.soft >= masterNeed) return undefined;
  if (limits.hard < masterNeed) throw tooFew('the master (one connection each)', slaves, masterNeed, limits);
  return masterNeed;
}
