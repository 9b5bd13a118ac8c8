import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';
import Docker from 'dockerode';

/** The label Compose puts on every container, network and volume of a project. */
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';

/** Output of a failed command kept for its error message, in characters. */
const OUTPUT_TAIL_CHARS = 4000;

/** Time between SIGTERM and SIGKILL for a `docker compose` command that is aborted or too slow, in ms. */
const COMPOSE_KILL_GRACE_MS = 3000;

/** A `docker compose` command that exited with an error, timed out, or could not be run. */
export class ComposeCommandError extends Error {
  override readonly name = 'ComposeCommandError';

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
 * One Compose project (`docker compose -p <project> -f <file>`) with the
 * environment its file is interpolated with. Commands in flight can be
 * aborted, so a Ctrl-C during `up` stops Compose before its containers are
 * removed by label.
 */
export class ComposeProject {
  private readonly running = new Set<ChildProcess>();

  constructor(
    readonly project: string,
    readonly file: string,
    private readonly env: Record<string, string>,
  ) {}

  /** Runs `docker compose -p <project> -f <file> <args>`; resolves with its output, rejects with a `ComposeCommandError`. */
  run(args: readonly string[], timeoutMs: number): Promise<string> {
    const argv = ['compose', '-p', this.project, '-f', this.file, ...args];
    const command = `docker ${argv.join(' ')}`;
    return new Promise<string>((resolve, reject) => {
      const child = spawn('docker', argv, {
        cwd: dirname(this.file),
        env: { ...process.env, ...this.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group: a Ctrl-C in the terminal reaches only the runner, which stops Compose itself.
        detached: true,
      });
      this.running.add(child);
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
          reject(new ComposeCommandError(`cannot run ${command}: ${spawnError.message}`, output, true));
        } else if (code === 0) {
          resolve(output);
        } else {
          const why = timedOut
            ? `no answer within ${timeoutMs} ms`
            : signal !== null
              ? `killed by ${signal}`
              : `exit code ${code}`;
          reject(new ComposeCommandError(`${command} failed (${why})`, output.trim(), false));
        }
      });
    });
  }

  /** SIGKILL to every command still running, synchronously: for a process `exit` handler. */
  killAllSync(): void {
    for (const child of this.running) child.kill('SIGKILL');
  }

  /** Stops every command of this project still running; resolves once they have exited. */
  async abort(): Promise<void> {
    await Promise.all([...this.running].map((child) => terminate(child)));
  }
}

/** SIGTERM (Compose cancels cleanly), then SIGKILL after a grace period; resolves once the child exited. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), COMPOSE_KILL_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** What {@link removeRunResources} removed, and what it could not. */
export interface RemovedResources {
  containers: number;
  networks: number;
  volumes: number;
  /** One line per resource that could not be listed or removed. */
  errors: string[];
}

/**
 * Removes every container (forced), network and volume that carries the
 * Compose label of `project`. For what `docker compose down` left behind: a
 * project whose `up` was interrupted, or whose file no longer parses. Never
 * rejects; `errors` says what failed.
 */
export async function removeRunResources(project: string, docker: Docker = new Docker()): Promise<RemovedResources> {
  const label = [`${COMPOSE_PROJECT_LABEL}=${project}`];
  const removed: RemovedResources = { containers: 0, networks: 0, volumes: 0, errors: [] };
  const attempt = async (what: string, action: () => Promise<unknown>): Promise<boolean> => {
    try {
      await action();
      return true;
    } catch (err) {
      // Already gone (404), or being removed by Compose at the same moment (409): nothing left to do.
      const status = (err as { statusCode?: number }).statusCode;
      if (status !== 404 && status !== 409) removed.errors.push(`${what}: ${(err as Error).message}`);
      return false;
    }
  };

  let containers: Docker.ContainerInfo[] = [];
  await attempt(
    'list containers',
    async () => (containers = await docker.listContainers({ all: true, filters: { label } })),
  );
  for (const info of containers) {
    if (
      await attempt(`remove container ${info.Id}`, () => docker.getContainer(info.Id).remove({ force: true, v: true }))
    ) {
      removed.containers += 1;
    }
  }
  let networks: Docker.NetworkInspectInfo[] = [];
  await attempt('list networks', async () => (networks = await docker.listNetworks({ filters: { label } })));
  for (const info of networks) {
    if (await attempt(`remove network ${info.Name}`, () => docker.getNetwork(info.Id).remove())) removed.networks += 1;
  }
  let volumes: Docker.VolumeInspectInfo[] = [];
  await attempt(
    'list volumes',
    async () => (volumes = (await docker.listVolumes({ filters: { label } })).Volumes ?? []),
  );
  for (const info of volumes) {
    if (await attempt(`remove volume ${info.Name}`, () => docker.getVolume(info.Name).remove())) removed.volumes += 1;
  }
  return removed;
}

/**
 * The same as {@link removeRunResources} with the `docker` CLI, synchronously:
 * the only kind of work a process `exit` handler can still do.
 */
export function removeRunResourcesSync(project: string): void {
  const filter = `label=${COMPOSE_PROJECT_LABEL}=${project}`;
  const ids = (args: string[]): string[] => {
    const result = spawnSync('docker', args, { encoding: 'utf8', timeout: 15_000 });
    return result.status === 0 ? result.stdout.split('\n').filter((id) => id !== '') : [];
  };
  const containers = ids(['ps', '--all', '--quiet', '--filter', filter]);
  if (containers.length > 0) spawnSync('docker', ['rm', '--force', ...containers], { timeout: 30_000 });
  const networks = ids(['network', 'ls', '--quiet', '--filter', filter]);
  if (networks.length > 0) spawnSync('docker', ['network', 'rm', ...networks], { timeout: 15_000 });
}
