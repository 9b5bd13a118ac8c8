import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { LogLines } from './log-lines';

export const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

/**
 * Jest timeout of a test that starts `picluster` processes: each takes a
 * second or more to start on a busy machine, far beyond Jest's default 5 s
 * for a test that starts several.
 */
export const SPAWN_TEST_TIMEOUT_MS = 60_000;

/** How long a wait for a line of a `picluster` process lasts when the test does not say, in ms. */
const CLI_WAIT_MS = 10_000;

/** How a `picluster` process is started, besides its arguments and environment. */
export interface CliOptions {
  /** Started by `sh` under `ulimit -n` of this many open files; default: the limit this process has. */
  readonly maxOpenFiles?: number;
}

/** A `picluster` child process whose stdout is parsed as JSON lines as they come. */
export class CliProcess extends LogLines {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: Record<string, string> = {}, options: CliOptions = {}) {
    // Other text (--log-format text) is kept in `stdout` only.
    super(CLI_WAIT_MS, 'skip');
    const [command, ...argv] =
      options.maxOpenFiles === undefined
        ? [process.execPath, CLI, ...args]
        : ['sh', '-c', `ulimit -n ${options.maxOpenFiles} && exec "$0" "$@"`, process.execPath, CLI, ...args];
    this.child = spawn(command!, argv, {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      this.stdout += text;
      this.push(text);
    });
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    this.exited = once(this.child, 'exit').then(
      ([code, signal]) => ({ code, signal }) as { code: number | null; signal: NodeJS.Signals | null },
    );
  }

  protected override waitContext(): string {
    return `\nstdout:\n${this.stdout.slice(-2000)}\nstderr:\n${this.stderr}`;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Runs `picluster` to completion. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  options: CliOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = new CliProcess(args, env, options);
  // 'close', not 'exit': at 'exit' the last of its output may still be on its way.
  const [code] = (await once(cli.child, 'close')) as [number | null];
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}

/** Runs `picluster` expecting a usage error: exit code 2, one line on stderr that contains `text`, no output. */
export async function expectUsageError(args: string[], env: Record<string, string>, text: string): Promise<void> {
  const { code, stderr, stdout } = await runCli(args, env);
  expect(code).toBe(2);
  expect(stderr).toContain(text);
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stdout).toBe('');
}
