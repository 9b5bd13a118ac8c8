import { systemClock, type Clock, type TimerHandle } from '../../common';
import type { LinkShape } from '../link-fault';

/**
 * One direction of a link through the fault proxy, degraded in user space as
 * Toxiproxy's toxics do: a {@link ShapedPipe} reads from a source socket and
 * writes to a destination socket, holding each segment until the time
 * {@link scheduleSegment} gives it.
 *
 * The model, per segment (a piece of at most `sliceBytes`, or
 * {@link SEGMENT_BYTES} when the link is shaped but not sliced, of a chunk
 * read from the source), in this order:
 * - bandwidth: the segment occupies the link `bytes * 8 / rateBitsPerSecond`
 *   seconds, starting when it arrived or when the segment before it left the
 *   link, whichever is later (a bottleneck queue);
 * - delay: then `delayMs` plus a uniform draw in `±jitterMs`, never below 0;
 * - loss: TCP is reliable, so a lost segment is not dropped but sent again
 *   after a retransmission timeout: each attempt is lost with chance
 *   `lossPercent` (after a loss, `lossCorrelationPercent` when set), the
 *   first loss costs {@link RTO_MIN_MS} (Linux's TCP_RTO_MIN), each further
 *   loss of the same segment twice the one before, and after
 *   {@link MAX_RETRANSMISSIONS} losses the segment passes;
 * - order: a segment never leaves before the one in front of it (TCP never
 *   reorders what it delivers), and sliced segments leave at least
 *   `sliceDelayMs` apart;
 * - drop: nothing passes, and a FIN from the source is held until the shape
 *   ends (a one-way partition).
 *
 * Sliced segments are written one per turn of the event loop, each its own
 * `write`, so that the receiver reads them apart; other segments due at the
 * same time are written together. At most {@link MAX_QUEUED_BYTES} wait
 * before the source is paused (back-pressure, as a full bottleneck queue
 * exerts). One timer per pipe, armed for the head of the queue (a segment
 * already due waits for the next turn of the event loop instead).
 */

/** Linux's TCP_RTO_MIN: what the first loss of a segment costs, in ms. */
export const RTO_MIN_MS = 200;
/** Losses of one segment after which it passes anyway. */
export const MAX_RETRANSMISSIONS = 6;
/** The size of a segment of a shaped link that is not sliced: an Ethernet MSS. */
export const SEGMENT_BYTES = 1460;
/** Queued bytes beyond which the source is paused. */
export const MAX_QUEUED_BYTES = 64 * 1024;

/** What the schedule of a pipe remembers from one segment to the next; times in ms. */
export interface ScheduleState {
  /** When the last segment leaves the pipe. */
  readonly lastReleaseAt: number;
  /** When the link has finished serializing the last segment (bandwidth). */
  readonly linkFreeAt: number;
}

/** A pipe's state before its first segment. */
export const INITIAL_SCHEDULE: ScheduleState = { lastReleaseAt: -Infinity, linkFreeAt: -Infinity };

/**
 * The extra time a segment takes because of losses under `shape`: the sum of
 * its retransmission timeouts. Draws from `random` once per attempt while
 * the segment is lost.
 */
export function lossPenaltyMs(shape: LinkShape, random: () => number): number {
  const chance = (shape.lossPercent ?? 0) / 100;
  if (chance <= 0) return 0;
  const afterLoss = shape.lossCorrelationPercent === undefined ? chance : shape.lossCorrelationPercent / 100;
  let penalty = 0;
  let timeout = RTO_MIN_MS;
  for (let losses = 0, p = chance; losses < MAX_RETRANSMISSIONS && random() < p; losses++, p = afterLoss) {
    penalty += timeout;
    timeout *= 2;
  }
  return penalty;
}

/**
 * When a segment of `bytes` bytes that arrived at `arrivedAt` (ms) leaves a
 * pipe shaped by `shape`, and the pipe's state after it. Pure: the only
 * randomness is `random`'s, drawn for jitter first, then for loss.
 */
export function scheduleSegment(
  state: ScheduleState,
  shape: LinkShape,
  bytes: number,
  arrivedAt: number,
  random: () => number,
): { releaseAt: number; state: ScheduleState } {
  let at = arrivedAt;
  let linkFreeAt = state.linkFreeAt;
  if (shape.rateBitsPerSecond !== undefined && shape.rateBitsPerSecond > 0) {
    at = Math.max(at, linkFreeAt) + (bytes * 8 * 1000) / shape.rateBitsPerSecond;
    linkFreeAt = at;
  }
  const jitter = shape.jitterMs ? (random() * 2 - 1) * shape.jitterMs : 0;
  at += Math.max(0, (shape.delayMs ?? 0) + jitter);
  at += lossPenaltyMs(shape, random);
  const releaseAt = Math.max(at, state.lastReleaseAt + (shape.sliceDelayMs ?? 0));
  return { releaseAt, state: { lastReleaseAt: releaseAt, linkFreeAt } };
}

/** Cuts `chunk` into pieces of at most `size` bytes (views, no copies). */
export function slices(chunk: Buffer, size: number): Buffer[] {
  if (chunk.length <= size) return [chunk];
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < chunk.length; offset += size) pieces.push(chunk.subarray(offset, offset + size));
  return pieces;
}

/** What a pipe reads from: only its flow is controlled. */
export interface PipeSource {
  pause(): unknown;
  resume(): unknown;
}

/** What a pipe writes to (a `net.Socket`). */
export interface PipeDestination {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  write(chunk: Buffer): boolean;
  end(): unknown;
  once(event: 'drain' | 'close', listener: () => void): unknown;
}

/** Options of a {@link ShapedPipe}. */
export interface ShapedPipeOptions {
  /** Draws in [0, 1) for jitter and loss. */
  random: () => number;
  /** Time and the pipe's timer; default the system's. */
  clock?: Clock;
}

/** A segment waiting in a pipe. */
interface Segment {
  readonly bytes: Buffer;
  readonly releaseAt: number;
  /** A slice: written alone, in a turn of its own. */
  readonly alone: boolean;
}

/**
 * One direction of a link: bytes pushed in leave for the destination as the
 * current shape says (at once when there is none and nothing waits). See the
 * file's comment for the model.
 */
export class ShapedPipe {
  private shape: LinkShape | undefined;
  private cut = false;
  private readonly queue: Segment[] = [];
  private head = 0;
  private queuedBytes = 0;
  private schedule = INITIAL_SCHEDULE;
  private timer: TimerHandle | undefined;
  /** A release is queued for the next turn of the event loop (not cancellable: it checks the state when it runs). */
  private turnPending = false;
  private sourceEnded = false;
  private waitingForDrain = false;
  private paused = false;
  private disposed = false;
  private readonly clock: Clock;

  constructor(
    private readonly source: PipeSource,
    private readonly destination: PipeDestination,
    private readonly options: ShapedPipeOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    // Nothing can be written any more: the timer must not outlive the socket.
    destination.once('close', () => this.dispose());
  }

  /** Nothing passes in this direction (a one-way partition). */
  get dropping(): boolean {
    return this.shape?.drop === true;
  }

  /** Bytes waiting for their release time. */
  get queued(): number {
    return this.queuedBytes;
  }

  /** The shape of bytes pushed from now on; undefined: none. Bytes queued keep their times. */
  setShape(shape: LinkShape | undefined): void {
    this.shape = shape;
    this.finishIfDone();
  }

  /**
   * While cut, bytes pushed are dropped and queued ones wait (nothing passes);
   * the source flows, so that what it sends is dropped rather than kept.
   */
  setCut(cut: boolean): void {
    this.cut = cut;
    if (cut) {
      this.clearTimer();
      this.flow(false);
    } else {
      this.flow(this.shouldPause());
      this.arm();
      this.finishIfDone();
    }
  }

  /** Bytes read from the source. */
  push(chunk: Buffer): void {
    if (this.disposed || this.cut || this.dropping || this.destination.destroyed) return;
    if (this.shape === undefined && this.queue.length === this.head && !this.waitingForDrain) {
      this.write(chunk);
      return;
    }
    const shape = this.shape ?? {};
    const size = shape.sliceBytes ?? (this.shape === undefined ? chunk.length : SEGMENT_BYTES);
    const arrivedAt = this.clock.now();
    for (const bytes of slices(chunk, Math.max(1, size))) {
      const next = scheduleSegment(this.schedule, shape, bytes.length, arrivedAt, this.options.random);
      this.schedule = next.state;
      this.queue.push({ bytes, releaseAt: next.releaseAt, alone: shape.sliceBytes !== undefined });
      this.queuedBytes += bytes.length;
    }
    this.flow(this.shouldPause());
    this.arm();
  }

  /** The source sent its FIN: passed on once the queue drained and the direction is not dropped. Idempotent. */
  end(): void {
    this.sourceEnded = true;
    this.finishIfDone();
  }

  /** Discards what waits and stops the timer. Idempotent. */
  dispose(): void {
    // A source left paused would never read its peer's FIN or RST again.
    this.flow(false);
    this.disposed = true;
    this.clearTimer();
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
  }

  private shouldPause(): boolean {
    return this.waitingForDrain || this.queuedBytes > MAX_QUEUED_BYTES;
  }

  private flow(pause: boolean): void {
    if (pause === this.paused || this.disposed) return;
    this.paused = pause;
    if (pause) this.source.pause();
    else this.source.resume();
  }

  private write(bytes: Buffer): void {
    if (this.destination.destroyed || this.destination.writableEnded) return;
    if (this.destination.write(bytes)) return;
    this.waitingForDrain = true;
    this.flow(true);
    this.destination.once('drain', () => {
      this.waitingForDrain = false;
      if (this.cut) return;
      this.flow(this.shouldPause());
      this.arm();
    });
  }

  private arm(): void {
    if (this.timer !== undefined || this.turnPending || this.disposed || this.cut || this.waitingForDrain) return;
    const next = this.queue[this.head];
    if (next === undefined) return;
    const delayMs = next.releaseAt - this.clock.now();
    if (delayMs > 0) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.release();
      }, delayMs);
      return;
    }
    // Due already (the next slice): the next turn, after the receiver's poll, without a timer's 1 ms minimum.
    this.turnPending = true;
    this.clock.afterPendingIo(() => {
      this.turnPending = false;
      if (!this.disposed && !this.cut && !this.waitingForDrain) this.release();
    });
  }

  /** Writes what is due: one slice, or every unsliced segment due now. */
  private release(): void {
    const now = this.clock.now();
    const due: Buffer[] = [];
    for (let next = this.queue[this.head]; next !== undefined && next.releaseAt <= now; next = this.queue[this.head]) {
      if (next.alone && due.length > 0) break;
      due.push(next.bytes);
      this.queuedBytes -= next.bytes.length;
      this.head++;
      if (next.alone) break;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (due.length > 0) this.write(due.length === 1 ? due[0]! : Buffer.concat(due));
    this.flow(this.shouldPause());
    this.arm();
    this.finishIfDone();
  }

  private finishIfDone(): void {
    if (!this.sourceEnded || this.disposed || this.cut || this.dropping || this.queue.length > this.head) return;
    if (!this.destination.destroyed && !this.destination.writableEnded) this.destination.end();
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
