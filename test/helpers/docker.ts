import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { LogLines } from './log-lines';

export const ROOT = `${__dirname}/../..`;
const run = promisify(execFile);

/** Runs a command from the repository root; its output goes to the test's output on failure. */
export async function sh(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 600_000,
): Promise<string> {
  try {
    const { stdout } = await run(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, {
      cause: err,
    });
  }
}

/** How long a wait for a line of a container lasts when the test does not say, in ms. */
const CONTAINER_WAIT_MS = 60_000;

/** A container's JSON log lines, streamed through the Docker API as they come. */
export class ContainerLog extends LogLines {
  private constructor(private readonly stream: NodeJS.ReadableStream) {
    super(CONTAINER_WAIT_MS, 'skip');
  }

  static async follow(docker: Docker, container: Docker.Container): Promise<ContainerLog> {
    const stream = (await container.logs({
      follow: true,
      stdout: true,
      stderr: true,
      since: 0,
    })) as NodeJS.ReadableStream;
    const log = new ContainerLog(stream);
    const stdout = new PassThrough();
    docker.modem.demuxStream(stream, stdout, new PassThrough());
    stdout.setEncoding('utf8').on('data', (text: string) => log.push(text));
    return log;
  }

  close(): void {
    (this.stream as unknown as { destroy?: () => void }).destroy?.();
  }
}

/** A container's output as Docker gives it without a TTY, as text: each chunk has an 8-byte header (stream, 0, 0, 0, size32be). */
export function withoutFrameHeaders(raw: Buffer): string {
  let text = '';
  for (let i = 0; i + 8 <= raw.length;) {
    const size = raw.readUInt32BE(i + 4);
    text += raw.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return text;
}

/** Runs a one-off container to completion and returns its exit code and stdout. */
export async function runOnce(
  docker: Docker,
  image: string,
  platform: string,
  cmd: string[],
  entrypoint?: string[],
): Promise<{ code: number; stdout: string }> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: cmd,
    Entrypoint: entrypoint,
    platform,
  } as Docker.ContainerCreateOptions);
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const raw = (await container.logs({ stdout: true, stderr: false })) as unknown as Buffer;
    return { code: StatusCode, stdout: withoutFrameHeaders(raw) };
  } finally {
    await container.remove({ force: true });
  }
}

/** The engine's part in a Swarm, and how to undo what {@link joinSwarm} did. */
export interface SwarmSession {
  /** Whether {@link joinSwarm} made the engine a swarm (and {@link SwarmSession.leave} leaves it). */
  readonly created: boolean;
  /** `docker swarm leave --force` if this session created the swarm; nothing otherwise. Idempotent. */
  leave(): Promise<void>;
}

/**
 * Makes the engine a single-node Swarm manager (`docker swarm init
 * --advertise-addr 127.0.0.1`) unless it already is one, which is then used
 * and left as it is.
 */
export async function joinSwarm(docker: Docker): Promise<SwarmSession> {
  const swarm = ((await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } }).Swarm;
  if (swarm?.LocalNodeState === 'active' && swarm.ControlAvailable === true) {
    return { created: false, leave: async () => undefined };
  }
  if (swarm?.LocalNodeState !== 'inactive') {
    throw new Error(`the engine is in a swarm as ${swarm?.LocalNodeState ?? 'unknown'}, not as a manager`);
  }
  // `swarm init` makes this bridge and `swarm leave` keeps it: removed on leaving if it was not there before.
  const hadBridge = (await docker.listNetworks({ filters: { name: ['docker_gwbridge'] } })).length > 0;
  await sh('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  const leave = async (): Promise<void> => {
    await sh('docker', ['swarm', 'leave', '--force']);
    if (!hadBridge)
      await docker
        .getNetwork('docker_gwbridge')
        .remove()
        .catch(() => undefined);
  };
  let left: Promise<void> | undefined;
  return { created: true, leave: () => (left ??= leave()) };
}
