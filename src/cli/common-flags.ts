import { createLog, LOG_FORMATS, type Log } from '../common';
import { defineFlags, type FlagValues } from './flags';

export const LOG_FLAGS = defineFlags([
  {
    flag: 'log-format',
    env: 'LOG_FORMAT',
    kind: 'choice',
    choices: LOG_FORMATS,
    description: 'Log line format: JSON lines, or text for people',
    defaultText: 'json',
  },
  {
    flag: 'log-file',
    env: 'LOG_FILE',
    kind: 'string',
    valueName: 'path',
    description: 'Also append every log line to this file',
  },
]);

export function logFromFlags(values: FlagValues<typeof LOG_FLAGS>): Log {
  return createLog({ format: values['log-format'] ?? 'json', file: values['log-file'] });
}

/** How long a stopping process waits for log destinations that take no more lines, in ms. */
export const LOG_CLOSE_GRACE_MS = 2000;

/**
 * Closes the log and resolves with `code`. A destination that would not take
 * its last lines within the grace (a reader of stdout that stopped reading)
 * is named on stderr, and the process exits at once with `code`: its pending
 * write would otherwise keep the process alive until the reader comes back,
 * maybe never. The record (the log file, when there is one) was written.
 */
export async function closeLog(log: Log, code: number): Promise<number> {
  const unwritten = await log.close(LOG_CLOSE_GRACE_MS);
  if (unwritten.length === 0) return code;
  process.stderr.write(
    `picluster: stopped waiting for log lines to be taken by ${unwritten.join(', ')} after ${LOG_CLOSE_GRACE_MS} ms; exiting\n`,
  );
  process.exit(code);
}

/**
 * Runs `stop` on the first SIGTERM or SIGINT. Node installs no default
 * handlers when it is PID 1 in a container, so these are what make
 * `docker stop` quick. A second signal while stopping exits at once.
 */
export function onStopSignal(stop: (signal: NodeJS.Signals) => void): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.exit(130);
    }
    stopping = true;
    stop(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
