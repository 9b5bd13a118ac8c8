import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { LogLine } from './log-sink';
import { pollUntil } from './wait';

export const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

/**
 * Jest timeout of a test that starts `picluster` processes: each takes a
 * second or more to start on a busy machine, far beyond Jest's default 5 s
 * for a test that starts several.
 */
export const SPAWN_TEST_TIMEOUT_MS = 60_000;

/** A `picluster` child process whose stdout is parsed as JSON lines as they come. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let rest = '';
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      this.stdout += text;
      const parts = (rest + text).split('\n');
      rest = parts.pop() ?? '';
      for (const part of parts) {
        try {
          this.lines.push(JSON.parse(part) as LogLine);
        } catch {
          // Not JSON (e.g. --log-format text): kept in `stdout` only.
        }
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    this.exited = once(this.child, 'exit').then(
      ([code, signal]) => ({ code, signal }) as { code: number | null; signal: NodeJS.Signals | null },
    );
  }

  events(event: string, node?: string): LogLine[] {
    return this.lines.filter((line) => line.event === event && (node === undefined || line.node === node));
  }

  waitFor(match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return pollUntil(
      () => this.lines.find(match),
      timeoutMs,
      () => `stdout:\n${this.stdout.slice(-2000)}\nstderr:\n${this.stderr}`,
    );
  }

  waitForEvent(event: string, fields: Record<string, unknown> = {}, timeoutMs?: number): Promise<LogLine> {
    return this.waitFor(
      (line) => line.event === event && Object.entries(fields).every(([k, v]) => line[k] === v),
      timeoutMs,
    );
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Runs `picluster` to completion. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = new CliProcess(args, env);
  const { code } = await cli.exited;
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
