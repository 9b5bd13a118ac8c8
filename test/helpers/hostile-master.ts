import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { FrameDecoder } from '../../src/protocol';
import { pollUntil, waitUntil } from './wait';

/** One connection to a `scriptedMaster`, as its script sees it. */
export interface ScriptedConnection {
  readonly socket: Socket;
  /** 0 for the first connection the master accepted, 1 for the next… */
  readonly index: number;
  /** The frames read so far, decoded. */
  readonly frames: Array<Record<string, unknown>>;
  /** Resolves with the first frame read that matches. */
  frame(match: (frame: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Writes `frame` as JSON and `\r`. */
  send(frame: Record<string, unknown>): void;
  /** Reads nothing more: what the slave writes stays in the kernel, then in its own buffer. */
  stopReading(): void;
  /** Hands the connection, from its first byte, to the master on `port` (call it before any frame is read). */
  forwardTo(port: number): void;
}

export interface ScriptedMaster {
  readonly port: number;
  readonly connections: readonly ScriptedConnection[];
  /** Destroys every connection and closes the server. */
  close(): Promise<void>;
}

/**
 * A master whose behaviour a test scripts: `onConnection` gets each accepted
 * connection at once, before any byte of it is read, and decides what to read
 * and write. For hostile masters (one that stops reading, floods, lies in its
 * acks) next to honest ones.
 */
export async function scriptedMaster(onConnection: (connection: ScriptedConnection) => void): Promise<ScriptedMaster> {
  const connections: ScriptedConnection[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const frames: Array<Record<string, unknown>> = [];
    const decoder = new FrameDecoder({ frame: (frame) => frames.push(frame), error: () => undefined });
    const read = (chunk: Buffer): void => decoder.push(chunk);
    socket.on('data', read);
    const connection: ScriptedConnection = {
      socket,
      index: connections.length,
      frames,
      frame: (match, timeoutMs = 10_000) =>
        pollUntil(
          () => frames.find(match),
          timeoutMs,
          () => `frames read: ${frames.length}`,
        ),
      send: (frame) => void socket.write(JSON.stringify(frame) + '\r'),
      stopReading: () => {
        socket.off('data', read);
        socket.pause();
      },
      forwardTo: (port) => {
        socket.off('data', read);
        const upstream = connect({ port, host: '127.0.0.1' });
        upstream.on('error', () => socket.destroy());
        socket.on('close', () => upstream.destroy());
        upstream.on('close', () => socket.destroy());
        socket.pipe(upstream).pipe(socket);
      },
    };
    connections.push(connection);
    onConnection(connection);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Writes `frame` over and over, as fast as the peer takes it, while
 * `going()`; in batches, waiting for `drain`, so that the flood costs this
 * process no memory. Returns a counter of the frames written.
 */
export function flood(socket: Socket, frame: string, going: () => boolean): { frames: number } {
  const BATCH = 1000;
  const batch = frame.repeat(BATCH);
  const counter = { frames: 0 };
  const write = (): void => {
    while (going() && !socket.destroyed) {
      counter.frames += BATCH;
      if (!socket.write(batch)) return;
    }
  };
  socket.on('drain', write);
  write();
  return counter;
}

/** Resident memory of process `pid`, in MB, from `/proc` (Linux); undefined once it is gone. */
export function rssMbOf(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) / 1024;
  } catch {
    return undefined;
  }
}

/** Samples a process's resident memory every `everyMs` and keeps the peak. */
export class RssSampler {
  peakMb = 0;
  samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    everyMs = 50,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  private sample(): void {
    const mb = rssMbOf(this.pid);
    if (mb === undefined) return;
    this.samples += 1;
    this.peakMb = Math.max(this.peakMb, mb);
  }
}

/** Resolves once `ms` have passed: the length of a scenario (a flood), never a wait for a result. */
export function runFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Sends SIGTERM and measures the time to the `exit` event; a process still
 * there after `killAfterMs` is SIGKILLed, and `onItsOwn` says so.
 */
export async function terminate(
  child: { kill(signal: NodeJS.Signals): boolean },
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  killAfterMs: number,
): Promise<{ ms: number; code: number | null; onItsOwn: boolean }> {
  const start = performance.now();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, killAfterMs);
  child.kill('SIGTERM');
  const { code } = await exited;
  clearTimeout(timer);
  return { ms: Math.round(performance.now() - start), code, onItsOwn: !killed };
}

/** Resolves once the scripted master has accepted `count` connections. */
export function connectionsReach(master: ScriptedMaster, count: number, timeoutMs = 10_000): Promise<void> {
  return waitUntil(
    () => master.connections.length >= count,
    timeoutMs,
    () => `connections: ${master.connections.length}`,
  );
}
