import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ExitGuard } from '../../common';
import { parseLogLine, type MasterLogLine } from '../backend';
import { LineWaiters, pollUntil } from '../cluster-core';
import { FileTail } from './file-tail';

/**
 * Every node process any local cluster of this process started and that has
 * not exited yet: nodes run in their own process group, so nothing else would
 * stop them if the runner died without `down()`.
 */
const liveChildren = new ExitGuard<ChildProcess>((child) => child.kill('SIGKILL'));

function track(child: ChildProcess): void {
  liveChildren.hold(child);
  child.once('exit', () => liveChildren.release(child));
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Where a node's stdout goes. `lines`: through a pipe to the runner, which
 * hands it on whole lines at a time (each ending with a newline), in order,
 * and to `onLine` parsed. `file`: appended to the file by the node itself,
 * without the runner: thousands of lines a second then cost the runner
 * nothing, nor does a runner short of CPU hold the node up.
 */
export type NodeStdout = { lines: (text: string) => void; onLine?: (line: MasterLogLine) => void } | { file: string };

/** How a node process is started and where its output goes, beyond its CLI arguments. */
export interface NodeProcessOptions {
  /** The run's token: in the environment, where other users cannot read it as they can argv. */
  token: string;
  stdout: NodeStdout;
  /** Started under `ulimit -n` of this many open files; unset: the limit the runner has. */
  maxOpenFiles?: number;
}

/** How often a node's stdout file is read while a {@link NodeProcess.waitForLine} waits, in ms. */
const FILE_POLL_MS = 20;

/**
 * One incarnation of a node: a child process whose stdout goes to the
 * runner, whole lines at a time, or straight to a file ({@link NodeStdout}).
 */
export class NodeProcess {
  readonly child: ChildProcess;
  /** Settles once the process has exited and its stdout is read to the end. */
  readonly closed: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  private stderrTail = '';
  private readonly waiters = new LineWaiters();
  /** Waits for a line still pending: lines are parsed only for them, or for `onLine`. */
  private waiting = 0;
  /** With a `file` stdout: that file. */
  private readonly stdoutFile: string | undefined;
  /** With a `file` stdout: the poll that reads it while a wait is pending. */
  private tail: { reader: FileTail; timer: NodeJS.Timeout } | undefined;

  constructor(
    readonly label: string,
    cliPath: string,
    args: string[],
    options: NodeProcessOptions,
  ) {
    const { token, stdout, maxOpenFiles } = options;
    const command = [process.execPath, cliPath, ...args];
    // `exec` keeps the pid: signals and /proc go to the node itself.
    const [file, ...argv] =
      maxOpenFiles === undefined ? command : ['sh', '-c', `ulimit -n ${maxOpenFiles} && exec "$0" "$@"`, ...command];
    // Appending: a node's file may hold an earlier incarnation's lines.
    const stdoutFd = 'file' in stdout ? openSync(stdout.file, 'a') : undefined;
    try {
      this.child = spawn(file!, argv, {
        // Only PATH: a MASTER_PORT, LOG_FILE or HEARTBEAT_COUNT in the runner's environment must not reach the nodes.
        env: { PATH: process.env.PATH ?? '', CLUSTER_TOKEN: token },
        stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'],
        // Its own process group: a Ctrl-C in the terminal reaches only the runner, which stops nodes in order.
        detached: true,
      });
    } finally {
      // The child has its own copy.
      if (stdoutFd !== undefined) closeSync(stdoutFd);
    }
    track(this.child);
    this.stdoutFile = 'file' in stdout ? stdout.file : undefined;
    const flushRest = 'lines' in stdout ? this.readPipe(stdout.lines, stdout.onLine) : () => undefined;
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-2000);
    });
    this.closed = new Promise<ExitStatus>((resolve) => {
      this.child.once('error', (err) => {
        this.stderrTail += `\n${err.message}`;
        // A process that could not be spawned emits no exit.
        if (this.child.pid === undefined) resolve((this.status = { code: null, signal: null }));
      });
      this.child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        flushRest();
        resolve((this.status = { code, signal }));
      });
    });
  }

  /** Reads the stdout pipe; returns what hands on the rest of a last line without its newline. */
  private readPipe(output: (lines: string) => void, onLine?: (line: MasterLogLine) => void): () => void {
    let rest = '';
    const stdout = this.child.stdout!;
    stdout.setEncoding('utf8');
    stdout.on('data', (text: string) => {
      const end = text.lastIndexOf('\n');
      if (end < 0) {
        rest += text;
        return;
      }
      const complete = rest + text.slice(0, end + 1);
      rest = text.slice(end + 1);
      output(complete);
      // A node's stdout may be thousands of lines a second that nobody waits for.
      if (onLine === undefined && this.waiting === 0) return;
      for (const raw of complete.split('\n')) {
        if (raw !== '') this.see(raw, onLine);
      }
    });
    // The last line of a process killed mid-write is kept as it is: the file holds what it wrote.
    return () => {
      if (rest !== '') output(rest + '\n');
    };
  }

  private see(raw: string, onLine?: (line: MasterLogLine) => void): void {
    const line = parseLogLine(raw);
    if (line === undefined) return;
    onLine?.(line);
    this.waiters.see(line);
  }

  /** Reads the stdout file every {@link FILE_POLL_MS} while a wait is pending, from its size when the first began. */
  private tailWhileWaiting(): void {
    if (this.stdoutFile === undefined || this.tail !== undefined) return;
    let from = 0;
    try {
      from = statSync(this.stdoutFile).size;
    } catch {
      // Not there yet: every line it will hold is new.
    }
    const reader = new FileTail(this.stdoutFile, from);
    const timer = setInterval(() => {
      for (const raw of reader.read()) if (raw !== '') this.see(raw);
    }, FILE_POLL_MS);
    this.tail = { reader, timer };
  }

  private stopTailing(): void {
    if (this.tail === undefined || this.waiting > 0) return;
    clearInterval(this.tail.timer);
    this.tail.reader.close();
    this.tail = undefined;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.status === undefined;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Resolves with the first line from now on that matches; rejects if the process ends first or on timeout. */
  waitForLine(match: (line: MasterLogLine) => boolean, what: string, timeoutMs: number): Promise<MasterLogLine> {
    const wait = this.waiters.wait(
      match,
      timeoutMs,
      () => new Error(`${this.label}: no ${what} within ${timeoutMs} ms${this.stderrText()}`),
    );
    void this.closed.then(({ code, signal }) =>
      wait.cancel(new Error(`${this.label} exited (${signal ?? `code ${code}`}) before ${what}${this.stderrText()}`)),
    );
    this.tailWhileWaiting();
    this.waiting += 1;
    const settled = (): void => {
      this.waiting -= 1;
      this.stopTailing();
    };
    wait.line.then(settled, settled);
    return wait.line;
  }

  /** Resolves true once the process has exited, false if it is still running after `timeoutMs`. */
  async exitWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const exited = await Promise.race([this.closed.then(() => true), timedOut]);
    clearTimeout(timer);
    return exited;
  }

  /** SIGTERM (and SIGCONT, so a paused process handles it), then SIGKILL after `graceMs`; resolves once exited. */
  async terminate(graceMs: number, confirmTimeoutMs: number): Promise<void> {
    this.signal('SIGTERM');
    this.signal('SIGCONT');
    if (await this.exitWithin(graceMs)) return;
    await this.kill(confirmTimeoutMs);
  }

  /** SIGKILL; resolves once exited. */
  async kill(confirmTimeoutMs: number): Promise<void> {
    this.signal('SIGKILL');
    if (!(await this.exitWithin(confirmTimeoutMs))) {
      throw new Error(`${this.label} (pid ${this.pid}) still runs ${confirmTimeoutMs} ms after SIGKILL`);
    }
  }

  /**
   * The process's peak resident memory so far (`VmHWM` of `/proc/<pid>/status`),
   * in bytes; undefined once it has exited or where there is no such file.
   */
  async peakRssBytes(): Promise<number | undefined> {
    if (!this.running) return undefined;
    try {
      const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
      const kib = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
      return kib === undefined ? undefined : Number(kib) * 1024;
    } catch {
      return undefined;
    }
  }

  /**
   * CPU time the process has used so far, user + system (`utime` + `stime` of
   * `/proc/<pid>/stat`, in clock ticks of 10 ms: Linux's USER_HZ is 100 on
   * every architecture Node runs on), in ms; undefined once it has exited or
   * where there is no such file.
   */
  async cpuMs(): Promise<number | undefined> {
    if (!this.running) return undefined;
    try {
      const stat = await readFile(`/proc/${this.pid}/stat`, 'utf8');
      // Fields after the command name's last `)`: state is field 3, utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      return Number.isFinite(ticks) ? ticks * 10 : undefined;
    } catch {
      return undefined;
    }
  }

  /** The process state letter from `/proc/<pid>/stat` (`R`, `S`, `T` stopped…). */
  async state(): Promise<string> {
    const stat = await readFile(`/proc/${this.pid}/stat`, 'utf8');
    // The command name in parentheses may itself hold spaces and parentheses; the state follows the last `)`.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  }

  /** Polls the process state until `accept` holds: the kernel applies SIGSTOP/SIGCONT asynchronously. */
  async waitForState(accept: (state: string) => boolean, what: string, timeoutMs: number): Promise<void> {
    let state = '';
    await pollUntil(
      what,
      async () => {
        state = await this.state();
        return accept(state) ? true : undefined;
      },
      {
        timeoutMs,
        intervalMs: 5,
        stopIf: () => (this.running ? undefined : `${this.label} exited before it was ${what}`),
        lastSeen: () => ` (state ${state})`,
        subject: `${this.label} `,
      },
    );
  }

  private stderrText(): string {
    const text = this.stderrTail.trim();
    return text === '' ? '' : `; stderr: ${text}`;
  }
}
