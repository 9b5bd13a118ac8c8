import { connect, type Socket } from 'node:net';
import { mutatedFrame, type MutationContext } from './mutators';
import { writeStep, type Step } from './reproducer';
import { Rng } from './rng';
import { firstEvent } from './sockets';

/** How far back a reproducer reaches: the steps of the last few seconds before a finding. */
export const REPRODUCER_WINDOW_MS = 5000;
/** Steps kept per slot: the window, and the time a finding takes to be seen and the fuzzing to stop. */
const HISTORY_MS = REPRODUCER_WINDOW_MS + 5000;
/** At most this many bytes of writes kept per slot, oldest dropped first (some 20 MB/s go out in all). */
const HISTORY_BYTES = 32 * 1024 * 1024;

const SEPARATORS = ['\r', '\r', '\r', '\n', '\r\n', '', '\r\r\n\n'];

/** What a slot may do after a batch, with its probability; otherwise it goes on writing. */
const LIFECYCLE: ReadonlyArray<[op: 'end' | 'reset' | 'reconnect', p: number]> = [
  ['end', 0.02],
  ['reset', 0.02],
  ['reconnect', 0.02],
];

/** A step as it happened; a write keeps its bytes, encoded only if a reproducer needs them. */
interface Recorded {
  atMs: number;
  conn: number;
  op: Step['op'];
  bytes?: Buffer;
}

/** One fuzz connection at a time, again and again: the master closes most of them for their bad frames. */
class Slot {
  private readonly history: Recorded[] = [];
  private historyBytes = 0;
  readonly rng: Rng;

  constructor(
    readonly index: number,
    seed: number,
    private readonly traffic: Traffic,
  ) {
    this.rng = Rng.derive(seed, index);
  }

  record(conn: number, op: Step['op'], bytes?: Buffer): void {
    const atMs = performance.now();
    this.history.push({ atMs, conn, op, bytes });
    this.historyBytes += bytes?.length ?? 0;
    while (
      this.history.length > 0 &&
      (this.historyBytes > HISTORY_BYTES || this.history[0]!.atMs < atMs - HISTORY_MS)
    ) {
      this.historyBytes -= this.history.shift()!.bytes?.length ?? 0;
    }
  }

  recent(): Recorded[] {
    return this.history;
  }

  async run(): Promise<void> {
    while (!this.traffic.stopped) {
      const conn = this.traffic.nextConn++;
      const socket = connect({ port: this.traffic.port, host: '127.0.0.1' });
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      this.record(conn, 'open');
      if ((await firstEvent(socket, ['connect', 'close'])) === 'close') continue;
      if (socket.localPort !== undefined) this.traffic.byLocalPort.set(socket.localPort, conn);
      this.traffic.opened += 1;
      await this.talk(socket, conn);
      socket.destroy();
    }
  }

  /** Writes batches until the master closes the connection, a lifecycle step ends it, or the run stops. */
  private async talk(socket: Socket, conn: number): Promise<void> {
    const { rng } = this;
    while (!this.traffic.stopped && !socket.destroyed) {
      const batch = this.batch();
      for (const piece of splits(rng, batch)) {
        if (socket.destroyed) return;
        this.record(conn, 'write', piece);
        this.traffic.bytesSent += piece.length;
        if (!socket.write(piece) && !socket.destroyed) await firstEvent(socket, ['drain', 'close']);
      }
      // Let the other slots, the probes and the socket's events run between batches.
      await new Promise((resolve) => setImmediate(resolve));
      // Closed by the master meanwhile (too many bad frames): its 'close' may be gone already.
      if (socket.destroyed) return;
      const roll = rng.next();
      let p = 0;
      for (const [op, chance] of LIFECYCLE) {
        p += chance;
        if (roll >= p) continue;
        if (op === 'end') {
          this.record(conn, 'end');
          socket.end();
          // The master closes its side once it has read our FIN; the timeout only guards against a master that does not.
          const timer = setTimeout(() => socket.destroy(), 1000);
          await firstEvent(socket, ['close']);
          clearTimeout(timer);
        } else if (op === 'reset') {
          this.record(conn, 'reset');
          socket.resetAndDestroy();
        }
        return;
      }
    }
  }

  /** 1 to 6 frames, each mutated or not, each with a separator (sometimes none: frames run together). */
  private batch(): Buffer {
    const parts: Buffer[] = [];
    for (let n = this.rng.int(1, 6); n > 0; n--) {
      const { bytes, mutators } = mutatedFrame({ ...this.traffic.context, rng: this.rng });
      for (const name of mutators) this.traffic.mutatorRuns.set(name, (this.traffic.mutatorRuns.get(name) ?? 0) + 1);
      parts.push(bytes, Buffer.from(this.rng.pick(SEPARATORS)));
    }
    return this.traffic.withoutGoodId(Buffer.concat(parts));
  }
}

/** Cuts `bytes` into the pieces written one by one: whole, single bytes, or anything between. */
function splits(rng: Rng, bytes: Buffer): Buffer[] {
  if (bytes.length === 0 || rng.chance(0.3)) return [bytes];
  const pieces: Buffer[] = [];
  const oneByOne = rng.chance(0.05) && bytes.length < 4096;
  for (let at = 0; at < bytes.length;) {
    const size = oneByOne ? 1 : rng.smallInt(bytes.length - at - 1) + 1;
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  return pieces;
}

/** The fuzzing connections: `slots` of them at once, each with its own generator derived from the seed. */
export class Traffic {
  stopped = false;
  nextConn = 1;
  opened = 0;
  bytesSent = 0;
  readonly mutatorRuns = new Map<string, number>();
  /** Our connection number by the local port it had: the master's `connect` line names that port. */
  readonly byLocalPort = new Map<number, number>();
  private readonly slots: Slot[];
  private running: Promise<void[]> | undefined;
  private readonly goodId: Buffer;

  constructor(
    readonly port: number,
    seed: number,
    slots: number,
    readonly context: Omit<MutationContext, 'rng'>,
    goodId: string,
  ) {
    this.slots = Array.from({ length: slots }, (_, i) => new Slot(i, seed, this));
    this.goodId = Buffer.from(goodId);
  }

  start(): void {
    this.running = Promise.all(this.slots.map((slot) => slot.run()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /**
   * The bytes with every occurrence of the good slave's id broken (its last
   * byte changed): a fuzz frame naming it would take its connection over,
   * which is the protocol's design, not a finding.
   */
  withoutGoodId(bytes: Buffer): Buffer {
    for (let at = bytes.indexOf(this.goodId); at !== -1; at = bytes.indexOf(this.goodId, at + 1)) {
      bytes[at + this.goodId.length - 1]! ^= 0x20;
    }
    return bytes;
  }

  /**
   * The recorded steps of the connections `conns` (all when undefined) in the
   * {@link REPRODUCER_WINDOW_MS} before `untilMs` (a `performance.now()`), oldest first.
   */
  steps(untilMs: number, conns?: ReadonlySet<number>): Step[] {
    return this.slots
      .flatMap((slot) => slot.recent())
      .filter(({ atMs }) => atMs <= untilMs && atMs >= untilMs - REPRODUCER_WINDOW_MS)
      .filter(({ conn }) => conns === undefined || conns.has(conn))
      .sort((a, b) => a.atMs - b.atMs)
      .map(({ conn, op, bytes }) => (op === 'write' ? writeStep(conn, bytes!) : { conn, op }));
  }
}
