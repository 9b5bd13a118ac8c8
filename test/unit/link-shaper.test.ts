import { EventEmitter } from 'node:events';
import {
  INITIAL_SCHEDULE,
  lossPenaltyMs,
  MAX_QUEUED_BYTES,
  MAX_RETRANSMISSIONS,
  RTO_MIN_MS,
  scheduleSegment,
  SEGMENT_BYTES,
  ShapedPipe,
  slices,
  type PipeDestination,
  type PipeSource,
} from '../../src/orchestrator/local/link-shaper';
import type { LinkShape } from '../../src/orchestrator/link-fault';
import { FakeClock } from '../helpers/fake-clock';

/** A random source that returns `values` in turn, then fails: a test says every draw it expects. */
function draws(...values: number[]): () => number {
  return () => {
    const value = values.shift();
    if (value === undefined) throw new Error('an unexpected draw');
    return value;
  };
}

describe('lossPenaltyMs', () => {
  it('costs nothing without loss and draws nothing', () => {
    expect(lossPenaltyMs({}, draws())).toBe(0);
    expect(lossPenaltyMs({ lossPercent: 0 }, draws())).toBe(0);
  });

  it('adds a doubling retransmission timeout per consecutive loss', () => {
    // Lost, lost, then delivered: 200 + 400.
    expect(lossPenaltyMs({ lossPercent: 50 }, draws(0.1, 0.4, 0.6))).toBe(RTO_MIN_MS * 3);
    expect(lossPenaltyMs({ lossPercent: 50 }, draws(0.5))).toBe(0);
  });

  it('lets a segment pass after the last retransmission', () => {
    const always = (): number => 0;
    expect(lossPenaltyMs({ lossPercent: 100 }, always)).toBe(RTO_MIN_MS * (2 ** MAX_RETRANSMISSIONS - 1));
  });

  it('uses the correlation as the chance after a loss', () => {
    // 0.3 is lost at 50%; the next attempt is lost only below 20%, so 0.3 passes.
    expect(lossPenaltyMs({ lossPercent: 50, lossCorrelationPercent: 20 }, draws(0.3, 0.3))).toBe(RTO_MIN_MS);
    expect(lossPenaltyMs({ lossPercent: 10, lossCorrelationPercent: 90 }, draws(0.05, 0.8, 0.95))).toBe(600);
  });
});

describe('scheduleSegment', () => {
  const at = (shape: LinkShape, bytes: number, arrivedAt: number, random = draws()) =>
    scheduleSegment(INITIAL_SCHEDULE, shape, bytes, arrivedAt, random);

  it('releases at once without a shape', () => {
    expect(at({}, 100, 1000).releaseAt).toBe(1000);
  });

  it('adds the delay and a uniform jitter, never below zero', () => {
    expect(at({ delayMs: 200 }, 10, 1000).releaseAt).toBe(1200);
    expect(at({ delayMs: 200, jitterMs: 50 }, 10, 1000, draws(0)).releaseAt).toBe(1150);
    expect(at({ delayMs: 200, jitterMs: 50 }, 10, 1000, draws(0.75)).releaseAt).toBe(1225);
    expect(at({ delayMs: 10, jitterMs: 50 }, 10, 1000, draws(0)).releaseAt).toBe(1000);
  });

  it('keeps order: a segment never leaves before the one in front of it', () => {
    const first = scheduleSegment(INITIAL_SCHEDULE, { delayMs: 20, jitterMs: 19 }, 10, 0, draws(0.99));
    const second = scheduleSegment(first.state, { delayMs: 20, jitterMs: 19 }, 10, 1, draws(0));
    expect(first.releaseAt).toBeCloseTo(38.62);
    expect(second.releaseAt).toBe(first.releaseAt);
  });

  it('serializes segments at the rate, one after the other', () => {
    const shape = { rateBitsPerSecond: 8000 };
    const first = scheduleSegment(INITIAL_SCHEDULE, shape, 100, 0, draws());
    const second = scheduleSegment(first.state, shape, 100, 0, draws());
    const later = scheduleSegment(second.state, shape, 100, 5000, draws());
    expect([first.releaseAt, second.releaseAt, later.releaseAt]).toEqual([100, 200, 5100]);
  });

  it('spaces slices by the slice delay', () => {
    const shape = { sliceBytes: 3, sliceDelayMs: 5 };
    const first = scheduleSegment(INITIAL_SCHEDULE, shape, 3, 0, draws());
    const second = scheduleSegment(first.state, shape, 3, 0, draws());
    expect([first.releaseAt, second.releaseAt]).toEqual([0, 5]);
  });

  it('adds the loss penalty after the delay', () => {
    expect(at({ delayMs: 100, lossPercent: 50 }, 10, 0, draws(0.2, 0.9)).releaseAt).toBe(100 + RTO_MIN_MS);
  });
});

describe('slices', () => {
  it('cuts a chunk into pieces of at most the size, in order', () => {
    const pieces = slices(Buffer.from('abcdefgh'), 3);
    expect(pieces.map(String)).toEqual(['abc', 'def', 'gh']);
    expect(slices(Buffer.from('ab'), 3).map(String)).toEqual(['ab']);
  });
});

/** A destination that records each write, as a socket would take it. */
class FakeSocket extends EventEmitter implements PipeDestination, PipeSource {
  destroyed = false;
  writableEnded = false;
  writes: string[] = [];
  full = false;
  paused = false;

  write(chunk: Buffer): boolean {
    this.writes.push(chunk.toString());
    return !this.full;
  }
  end(): void {
    this.writableEnded = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

function pipe(shape: LinkShape | undefined, random = draws()) {
  const clock = new FakeClock();
  const source = new FakeSocket();
  const destination = new FakeSocket();
  const shaped = new ShapedPipe(source, destination, { random, clock });
  shaped.setShape(shape);
  return { clock, source, destination, shaped };
}

describe('ShapedPipe', () => {
  it('writes at once without a shape', () => {
    const { destination, shaped } = pipe(undefined);
    shaped.push(Buffer.from('abc'));
    expect(destination.writes).toEqual(['abc']);
  });

  it('holds bytes until their release time, then writes those due together', () => {
    const { clock, destination, shaped } = pipe({ delayMs: 200 });
    shaped.push(Buffer.from('a'));
    shaped.push(Buffer.from('b'));
    clock.advance(199);
    expect(destination.writes).toEqual([]);
    clock.advance(1);
    expect(destination.writes).toEqual(['ab']);
  });

  it('cuts unsliced shaped chunks into segments of an MSS', () => {
    const { clock, destination, shaped } = pipe({ rateBitsPerSecond: 8 * 1000 * SEGMENT_BYTES });
    shaped.push(Buffer.alloc(SEGMENT_BYTES * 2 + 1, 'x'));
    clock.advance(1);
    expect(destination.writes.map((w) => w.length)).toEqual([SEGMENT_BYTES]);
    clock.advance(1);
    expect(destination.writes.map((w) => w.length)).toEqual([SEGMENT_BYTES, SEGMENT_BYTES]);
  });

  it('writes each slice alone', () => {
    const { clock, destination, shaped } = pipe({ sliceBytes: 3 });
    shaped.push(Buffer.from('abcdefgh'));
    clock.advance(0);
    expect(destination.writes).toEqual(['abc', 'def', 'gh']);
  });

  it('passes the FIN on only once the queue drained', () => {
    const { clock, destination, shaped } = pipe({ delayMs: 50 });
    shaped.push(Buffer.from('last'));
    shaped.end();
    expect(destination.writableEnded).toBe(false);
    clock.advance(50);
    expect(destination.writes).toEqual(['last']);
    expect(destination.writableEnded).toBe(true);
  });

  it('drops bytes and holds the FIN while dropping, and passes the FIN once the shape ends', () => {
    const { destination, shaped } = pipe({ drop: true });
    shaped.push(Buffer.from('lost'));
    shaped.end();
    expect(destination.writes).toEqual([]);
    expect(destination.writableEnded).toBe(false);
    shaped.setShape(undefined);
    expect(destination.writableEnded).toBe(true);
    expect(destination.writes).toEqual([]);
  });

  it('keeps queued bytes on their schedule when the shape changes', () => {
    const { clock, destination, shaped } = pipe({ delayMs: 100 });
    shaped.push(Buffer.from('a'));
    shaped.setShape(undefined);
    shaped.push(Buffer.from('b'));
    expect(destination.writes).toEqual([]);
    clock.advance(100);
    expect(destination.writes).toEqual(['ab']);
  });

  it('pauses the source beyond the queue bound and resumes it below', () => {
    const { clock, source, shaped } = pipe({ delayMs: 10 });
    shaped.push(Buffer.alloc(MAX_QUEUED_BYTES, 'x'));
    expect(source.paused).toBe(false);
    shaped.push(Buffer.from('y'));
    expect(source.paused).toBe(true);
    expect(shaped.queued).toBe(MAX_QUEUED_BYTES + 1);
    clock.advance(10);
    expect(shaped.queued).toBe(0);
    expect(source.paused).toBe(false);
  });

  it('waits for drain when the destination is full', () => {
    const { clock, source, destination, shaped } = pipe({ delayMs: 10 });
    destination.full = true;
    shaped.push(Buffer.from('a'));
    clock.advance(10);
    shaped.push(Buffer.from('b'));
    clock.advance(100);
    expect(destination.writes).toEqual(['a']);
    expect(source.paused).toBe(true);
    destination.full = false;
    destination.emit('drain');
    clock.advance(0);
    expect(destination.writes).toEqual(['a', 'b']);
    expect(source.paused).toBe(false);
  });

  it('while cut drops what comes, holds what waits, and releases it after', () => {
    const { clock, destination, shaped } = pipe({ delayMs: 10 });
    shaped.push(Buffer.from('queued'));
    shaped.setCut(true);
    shaped.push(Buffer.from('lost'));
    clock.advance(100);
    expect(destination.writes).toEqual([]);
    shaped.setCut(false);
    clock.advance(0);
    expect(destination.writes).toEqual(['queued']);
  });

  it('stops its timer when the destination closes, and lets the source flow again', () => {
    const { clock, source, destination, shaped } = pipe({ delayMs: 10 });
    shaped.push(Buffer.alloc(MAX_QUEUED_BYTES + 1));
    expect(source.paused).toBe(true);
    destination.emit('close');
    clock.advance(100);
    expect(destination.writes).toEqual([]);
    expect(shaped.queued).toBe(0);
    expect(source.paused).toBe(false);
  });
});
