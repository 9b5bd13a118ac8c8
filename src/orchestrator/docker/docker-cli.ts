import { spawn, type ChildProcess } from 'node:child_process';
import { RunError } from '../backend';

/** Output of a failed command kept for its error message, in characters. */
const OUTPUT_TAIL_CHARS = 4000;

/** Time between SIGTERM and SIGKILL for a command that is aborted or too slow, in ms. */
const KILL_GRACE_MS = 3000;

/** A `docker` command that exited with an error, timed out, or could not be run. */
export class DockerCommandError extends Error {
  override readonly name = 'DockerCommandError';

  constructor(
    message: string,
    /** The last lines the command wrote (stdout and stderr). */
    readonly output: string,
    /** `docker` itself could not be run (`ENOENT`…). */
    readonly spawnFailed: boolean,
  ) {
    super(message);
  }
}

/**
 * Runs `docker <prefix> <args>` commands (`docker compose -p <project> -f
 * <file> …`, `docker stack …`) in one directory with the environment their
 * Compose file is interpolated with. Commands in flight can be aborted, so a
 * Ctrl-C during `up` or `deploy` stops the CLI before the run's resources are
 * removed by label.
 */
export class DockerCli {
  private readonly running = new Set<ChildProcess>();

  constructor(
    private readonly prefix: readonly string[],
    private readonly cwd: string,
    private readonly env: Record<string, string>,
  ) {}

  /** Runs the command, with `input` on its stdin if given; resolves with its output, rejects with a {@link DockerCommandError}. */
  run(args: readonly string[], timeoutMs: number, input?: string): Promise<string> {
    const argv = [...this.prefix, ...args];
    const command = `docker ${argv.join(' ')}`;
    return new Promise<string>((resolve, reject) => {
      const child = spawn('docker', argv, {
        cwd: this.cwd,
        env: { ...process.env, ...this.env },
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        // Its own process group: a Ctrl-C in the terminal reaches only the runner, which stops the command itself.
        detached: true,
      });
      this.running.add(child);
      child.stdin?.on('error', () => undefined).end(input);
      let output = '';
      const keep = (text: string): void => {
        output = (output + text).slice(-OUTPUT_TAIL_CHARS);
      };
      child.stdout!.setEncoding('utf8').on('data', keep);
      child.stderr!.setEncoding('utf8').on('data', keep);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        void terminate(child);
      }, timeoutMs);
      let spawnError: Error | undefined;
      child.once('error', (err) => (spawnError = err));
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.running.delete(child);
        if (spawnError !== undefined && child.pid === undefined) {
          reject(new DockerCommandError(`cannot run ${command}: ${spawnError.message}`, output, true));
        } else if (code === 0) {
          resolve(output);
        } else {
          const why = timedOut
            ? `no answer within ${timeoutMs} ms`
            : signal !== null
              ? `killed by ${signal}`
              : `exit code ${code}`;
          reject(new DockerCommandError(`${command} failed (${why})`, output.trim(), false));
        }
      });
    });
  }

  /** SIGKILL to every command still running, synchronously: for a process `exit` handler. */
  killAllSync(): void {
    for (const child of this.running) child.kill('SIGKILL');
  }

  /** Stops every command still running; resolves once they have exited. */
  async abort(): Promise<void> {
    await Promise.all([...this.running].map((child) => terminate(child)));
  }
}

/**
 * A cluster that did not come up because a command failed, with the command's
 * output and `more`: `PICLUSTER_ERR_BACKEND_UNAVAILABLE` when `docker` could
 * not be run at all, `PICLUSTER_ERR_NODE_START` otherwise.
 */
export function startFailed(err: unknown, more = ''): RunError {
  const failed = err instanceof DockerCommandError ? err : undefined;
  const code = failed?.spawnFailed === true ? 'PICLUSTER_ERR_BACKEND_UNAVAILABLE' : 'PICLUSTER_ERR_NODE_START';
  const output = failed === undefined ? '' : `\n${failed.output}`;
  return new RunError(code, `${(err as Error).message}${output}${more}`, { cause: err });
}

/** SIGTERM (Compose and the stack commands cancel cleanly), then SIGKILL after a grace period; resolves once the child exited. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
