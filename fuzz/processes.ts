import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { CLI } from './reproducer';

/**
 * Follows a log file as a process appends to it. The processes under test
 * write to files, never to a pipe we read: a pipe the fuzzer is slow to drain
 * would block their writes (stdout to a pipe is synchronous on Linux) and pass
 * for a stall of theirs.
 */
export class LogTail {
  private offset = 0;
  private rest = '';
  private readonly fd: number;
  private readonly buffer = Buffer.alloc(1 << 20);

  constructor(
    readonly file: string,
    private readonly onLine: (line: string) => void,
  ) {
    this.fd = openSync(file, 'r');
  }

  /** Reads what was appended since the last call and hands over each whole line. */
  poll(): void {
    for (;;) {
      const read = readSync(this.fd, this.buffer, 0, this.buffer.length, this.offset);
      if (read === 0) return;
      this.offset += read;
      const parts = (this.rest + this.buffer.toString('utf8', 0, read)).split('\n');
      this.rest = parts.pop() ?? '';
      for (const part of parts) this.onLine(part);
    }
  }

  close(): void {
    this.poll();
    closeSync(this.fd);
  }
}

/** A `picluster` child process whose stdout goes to `logFile`. */
export interface Node {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Settles when the process exits, however. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last characters it wrote to stderr. */
  stderr(): string;
}

const STDERR_KEPT_CHARS = 4000;

export function startNode(args: string[], logFile: string): Node {
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', out, 'pipe'],
    env: { PATH: process.env.PATH ?? '' },
  });
  closeSync(out);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEPT_CHARS);
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  if (child.pid === undefined) throw new Error(`cannot start picluster ${args.join(' ')}`);
  return { child, pid: child.pid, exited, stderr: () => stderr };
}

/** Sends `signal` unless the process has already exited. */
export function signal(node: Node, name: NodeJS.Signals): void {
  if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill(name);
}

/** Resident memory of a process in bytes (VmRSS), or undefined once it is gone or on a system without /proc. */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ): 100 on every Linux we run on. */
const USER_HZ = 100;

/**
 * CPU time used so far by a process's main thread (the one that runs its
 * event loop), in ms: its own thread, so GC helpers and the thread pool do not
 * count. Undefined once it is gone or without /proc.
 */
export function mainThreadCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return undefined;
  }
}
