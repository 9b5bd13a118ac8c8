import { StringDecoder } from 'node:string_decoder';
import type Docker from 'dockerode';

/** Length of the header Docker puts before every chunk of a non-TTY container's output. */
const FRAME_HEADER_BYTES = 8;
/** Stream type in that header. */
const STDOUT = 1;

/** Fewest ms between two re-follows the follower starts by itself, so a stream that keeps ending cannot spin. */
const RESUME_DELAY_MS = 100;

/**
 * A Docker log timestamp (`2026-11-25T16:14:12.866123456Z`, RFC 3339 with up
 * to 9 fraction digits) as ns since the epoch; undefined if it is not one.
 * Compared as numbers, not strings: the fraction's width may vary.
 */
export function parseDockerTimestamp(text: string): bigint | undefined {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (match === null) return undefined;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  return BigInt(seconds) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'));
}

/** One open log stream of a container, with its own framing state. */
interface StreamContext {
  readonly stream: NodeJS.ReadableStream & { destroy?: () => void };
  /** Set once the stream ended or was replaced: its late chunks are dropped. */
  done: boolean;
  pending: Buffer;
  readonly decoder: StringDecoder;
  rest: string;
  /** Timestamp of this stream's latest line, in ns, and how often it has given each line with that timestamp. */
  atNs: bigint;
  readonly seenAtNs: Map<string, number>;
  readonly ended: Promise<void>;
  markEnded(): void;
}

/**
 * Follows one container's stdout through the Docker API and hands every line,
 * without Docker's timestamp, to `onLine` exactly once, in order, across
 * stops and starts of the container.
 *
 * A followed stream ends when the container stops; {@link follow} opens a new
 * one with `since` set to the second of the newest line taken, and lines up to
 * that timestamp are recognized and skipped. Lines are compared by Docker's
 * nanosecond timestamp and, for lines with the same timestamp, by content and
 * occurrence, so nothing is lost when a stream is cut short and nothing is
 * written twice when streams overlap.
 */
export class ContainerLogFollower {
  /** Newest Docker timestamp taken, in ns; -1 before the first line. */
  private lastNs = -1n;
  /** Lines taken with timestamp `lastNs`, and how many times each. */
  private atLast = new Map<string, number>();
  private current: StreamContext | undefined;
  /** Serializes opening streams: a re-follow the follower starts itself may meet one from `follow()`. */
  private opening: Promise<void> = Promise.resolve();
  private closed = false;
  private lastResumeAt = 0;
  /** Errors met while following on its own (no caller to reject), for diagnostics. */
  readonly errors: string[] = [];

  constructor(
    private readonly container: Docker.Container,
    /** Names the container in messages. */
    readonly label: string,
    private readonly onLine: (raw: string) => void,
  ) {}

  /** Whether a followed stream is open. */
  get following(): boolean {
    return this.current !== undefined && !this.current.done;
  }

  /**
   * Opens a followed stream from the newest line taken (from the first line on
   * the first call), replacing the current one; resolves once Docker answered.
   */
  follow(): Promise<void> {
    const next = this.opening.then(() => this.open());
    this.opening = next.catch(() => undefined);
    return next;
  }

  /**
   * Reads what Docker holds from the newest line taken to the end, without
   * following: picks up lines a stream that ended early may have missed.
   */
  async catchUp(): Promise<void> {
    await this.opening;
    const buffer = await this.container.logs({
      follow: false,
      stdout: true,
      stderr: false,
      timestamps: true,
      since: this.sinceSeconds(),
    });
    const context = this.context({ destroy: () => undefined } as unknown as StreamContext['stream']);
    this.take(context, buffer);
    this.finish(context);
  }

  /** Resolves once the current stream has ended, or after `timeoutMs`. */
  async settled(timeoutMs: number): Promise<void> {
    const current = this.current;
    if (current === undefined || current.done) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([current.ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Stops following for good. Idempotent. */
  close(): void {
    this.closed = true;
    this.drop();
  }

  private async open(): Promise<void> {
    if (this.closed) return;
    this.drop();
    const stream = await this.container.logs({
      follow: true,
      stdout: true,
      stderr: false,
      timestamps: true,
      since: this.sinceSeconds(),
    });
    if (this.closed) {
      (stream as StreamContext['stream']).destroy?.();
      return;
    }
    const context = this.context(stream);
    this.current = context;
    stream.on('data', (chunk: Buffer) => this.take(context, chunk));
    const onEnd = (): void => {
      if (context.done) return;
      this.finish(context);
      if (this.current === context) this.current = undefined;
      void this.resumeIfRunning();
    };
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', (err: Error) => {
      this.errors.push(`${this.label}: log stream failed: ${err.message}`);
      onEnd();
    });
  }

  private context(stream: StreamContext['stream']): StreamContext {
    let markEnded!: () => void;
    const ended = new Promise<void>((resolve) => (markEnded = resolve));
    return {
      stream,
      done: false,
      pending: Buffer.alloc(0),
      decoder: new StringDecoder('utf8'),
      rest: '',
      atNs: -1n,
      seenAtNs: new Map(),
      ended,
      markEnded,
    };
  }

  /**
   * A stream that ended by itself while the container still runs (a daemon
   * hiccup, or a restart that happened outside `apply`) is followed again;
   * one that ended because the container stopped waits for `follow()`.
   */
  private async resumeIfRunning(): Promise<void> {
    if (this.closed) return;
    const wait = this.lastResumeAt + RESUME_DELAY_MS - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    this.lastResumeAt = Date.now();
    try {
      const info = await this.container.inspect();
      if (info.State.Running && !this.closed && this.current === undefined) await this.follow();
    } catch (err) {
      this.errors.push(`${this.label}: cannot follow its log again: ${(err as Error).message}`);
    }
  }

  /** Destroys the current stream; its lines not yet taken are read again by the next one. */
  private drop(): void {
    const current = this.current;
    this.current = undefined;
    if (current === undefined || current.done) return;
    current.done = true;
    current.markEnded();
    current.stream.destroy?.();
  }

  /** Cuts Docker's multiplexed frames (8-byte header: stream type, 3 zero bytes, size big-endian) into stdout text. */
  private take(context: StreamContext, chunk: Buffer): void {
    if (context.done) return;
    let buffer = context.pending.length === 0 ? chunk : Buffer.concat([context.pending, chunk]);
    while (buffer.length >= FRAME_HEADER_BYTES) {
      const size = buffer.readUInt32BE(4);
      if (buffer.length < FRAME_HEADER_BYTES + size) break;
      if (buffer[0] === STDOUT)
        this.text(context, context.decoder.write(buffer.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + size)));
      buffer = buffer.subarray(FRAME_HEADER_BYTES + size);
    }
    context.pending = buffer;
  }

  private text(context: StreamContext, text: string): void {
    const lines = (context.rest + text).split('\n');
    context.rest = lines.pop() ?? '';
    for (const line of lines) this.line(context, line);
  }

  /** A stream that ended by itself: its last line may lack a newline (a process killed mid-write). */
  private finish(context: StreamContext): void {
    if (context.done) return;
    context.done = true;
    const tail = context.rest + context.decoder.end();
    context.rest = '';
    if (tail !== '') this.line(context, tail);
    context.markEnded();
  }

  private line(context: StreamContext, line: string): void {
    const space = line.indexOf(' ');
    const ns = space > 0 ? parseDockerTimestamp(line.slice(0, space)) : undefined;
    if (ns === undefined) {
      // Docker always prefixes a timestamp when asked; without one there is nothing to de-duplicate by.
      if (line !== '') this.onLine(line);
      return;
    }
    const raw = line.slice(space + 1);
    if (ns < this.lastNs) return;
    if (ns > this.lastNs) {
      this.lastNs = ns;
      this.atLast = new Map();
    }
    if (context.atNs !== ns) {
      context.atNs = ns;
      context.seenAtNs.clear();
    }
    // The k-th time this stream gives `raw` at this timestamp is the k-th such line in the log: new only if
    // no stream took it yet. This holds for streams that overlap (a catch-up read next to a live stream) too.
    const nth = (context.seenAtNs.get(raw) ?? 0) + 1;
    context.seenAtNs.set(raw, nth);
    if (nth <= (this.atLast.get(raw) ?? 0)) return;
    this.atLast.set(raw, nth);
    this.onLine(raw);
  }

  /** Docker's `since` has a resolution of one second here; what it replays is skipped by timestamp. */
  private sinceSeconds(): number {
    return this.lastNs < 0n ? 0 : Number(this.lastNs / 1_000_000_000n);
  }
}

/** The last `lines` lines a container wrote to stdout and stderr, as text, for error messages. */
export async function containerOutputTail(container: Docker.Container, lines: number): Promise<string> {
  const buffer = await container.logs({ follow: false, stdout: true, stderr: true, tail: lines });
  let text = '';
  for (let offset = 0; offset + FRAME_HEADER_BYTES <= buffer.length;) {
    const size = buffer.readUInt32BE(offset + 4);
    text += buffer.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + size).toString('utf8');
    offset += FRAME_HEADER_BYTES + size;
  }
  return text.trimEnd();
}
