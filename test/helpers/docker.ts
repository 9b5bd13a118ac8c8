import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import type { LogLine } from './log-sink';
import { pollUntil } from './wait';

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

/** A container's JSON log lines, streamed through the Docker API as they come. */
export class ContainerLog {
  readonly lines: LogLine[] = [];
  private rest = '';

  private constructor(private readonly stream: NodeJS.ReadableStream) {}

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
    stdout.setEncoding('utf8').on('data', (text: string) => log.add(text));
    return log;
  }

  private add(text: string): void {
    const parts = (this.rest + text).split('\n');
    this.rest = parts.pop() ?? '';
    for (const part of parts) {
      if (part.startsWith('{')) this.lines.push(JSON.parse(part) as LogLine);
    }
  }

  waitFor(match: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    return pollUntil(
      () => this.lines.find(match),
      timeoutMs,
      () =>
        `last lines:\n${this.lines
          .slice(-10)
          .map((l) => JSON.stringify(l))
          .join('\n')}`,
      50,
    );
  }

  close(): void {
    (this.stream as unknown as { destroy?: () => void }).destroy?.();
  }
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
    // Without a TTY each chunk has an 8-byte header (stream, 0, 0, 0, size32be).
    let stdout = '';
    for (let i = 0; i + 8 <= raw.length;) {
      const size = raw.readUInt32BE(i + 4);
      stdout += raw.subarray(i + 8, i + 8 + size).toString('utf8');
      i += 8 + size;
    }
    return { code: StatusCode, stdout };
  } finally {
    await container.remove({ force: true });
  }
}
