import { ConnectionWriter, type WriteTarget, type WriterHost } from '../../src/slave/connection-writer';
import { Outbox } from '../../src/slave/outbox';
import { FakeClock } from '../helpers/fake-clock';

/** Frames of 100 bytes, so that byte counts are easy to read. */
const message = (seq: number) => ({ seq, type: 'heartbeat', frame: `${seq}`.padEnd(100, '.') });

/** A socket whose kernel takes nothing until `take()` says so. */
class FakeTarget implements WriteTarget {
  readonly written: string[] = [];
  private queue: Array<{ data: string; callback: () => void }> = [];

  get writableLength(): number {
    return this.queue.reduce((sum, item) => sum + item.data.length, 0);
  }

  write(data: string, callback: () => void): boolean {
    this.written.push(data);
    this.queue.push({ data, callback });
    return this.writableLength < 16 * 1024;
  }

  /** The kernel takes the oldest `count` writes. */
  take(count = Infinity): void {
    for (const { callback } of this.queue.splice(0, count)) callback();
  }

  seqsWritten(): number[] {
    return this.written.map((data) => Number.parseInt(data, 10));
  }
}

function recordingHost() {
  const events: Array<[string, ...number[]]> = [];
  const host: WriterHost = {
    resent: (m) => events.push(['resent', m.seq]),
    held: (seq, bytes) => events.push(['held', seq, bytes]),
    resumed: (written, ms) => events.push(['resumed', written, ms]),
    stalled: (ms, bytes) => events.push(['stalled', ms, bytes]),
  };
  return { host, events, named: (name: string) => events.filter((event) => event[0] === name) };
}

function setUp({ capacity = 100, maxBufferedBytes = 500, stallTimeoutMs = 1000, forgetWritten = false } = {}) {
  const clock = new FakeClock();
  const target = new FakeTarget();
  const outbox = new Outbox(capacity);
  const recorded = recordingHost();
  const writer = new ConnectionWriter(
    target,
    outbox,
    clock,
    { maxBufferedBytes, stallTimeoutMs, forgetWritten },
    recorded.host,
  );
  const push = (...seqs: number[]) => {
    for (const seq of seqs) outbox.push(message(seq));
    writer.pump();
  };
  return { clock, target, outbox, writer, push, ...recorded };
}

describe('ConnectionWriter', () => {
  it('writes nothing numbered until started, then everything from the cursor on', () => {
    const { target, writer, push } = setUp();
    push(1, 2, 3);
    expect(target.written).toEqual([]);
    writer.startAt(2);
    expect(target.seqsWritten()).toEqual([2, 3]);
  });

  it('holds what the buffer cannot take, loses none of it, and writes it in order once the buffer drains', () => {
    const { target, outbox, writer, push, events } = setUp({ maxBufferedBytes: 500 });
    writer.startAt(1);
    push(1, 2, 3, 4, 5, 6, 7, 8);
    // 5 frames of 100 bytes reach the bound; the rest waits in the outbox.
    expect(target.seqsWritten()).toEqual([1, 2, 3, 4, 5]);
    expect(events).toEqual([['held', 6, 500]]);
    expect(outbox.unwritten).toBe(3);
    target.take();
    writer.pump(); // what the socket's 'drain' does
    expect(target.seqsWritten()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(events.at(-1)).toEqual(['resumed', 3, 0]);
    expect(outbox.unwritten).toBe(0);
    expect(outbox.size).toBe(8); // kept until acked
  });

  it('with acks off, forgets what it wrote: the outbox holds only what waits', () => {
    const { target, outbox, writer, push } = setUp({ maxBufferedBytes: 300, forgetWritten: true });
    writer.startAt(1);
    push(1, 2, 3, 4);
    expect(target.seqsWritten()).toEqual([1, 2, 3]);
    expect(outbox.pending().map((m) => m.seq)).toEqual([4]);
  });

  it('serves a resend once: not again while it is being written, nor the same request twice', () => {
    const { target, writer, push, named } = setUp({ maxBufferedBytes: 10_000 });
    writer.startAt(1);
    push(1, 2, 3);
    target.take();
    expect(writer.mayResend(1, true)).toBe(true);
    writer.resendFrom(1, true);
    expect(named('resent').map((event) => event[1])).toEqual([1, 2, 3]);
    // Under way until the kernel takes its last message.
    expect(writer.mayResend(2, true)).toBe(false);
    target.take(2);
    expect(writer.mayResend(2, true)).toBe(false);
    target.take();
    // Over: another resend may go, but not the one just served.
    expect(writer.mayResend(1, true)).toBe(false);
    expect(writer.mayResend(2, true)).toBe(true);
    // The answer to hello is no request: it may go from where a request went.
    expect(writer.mayResend(1, false)).toBe(true);
    expect(writer.ignoredResends).toBe(3);
  });

  it('ends a resend whose last message is acked before the kernel took it', () => {
    const { target, writer, push } = setUp({ maxBufferedBytes: 10_000 });
    writer.startAt(1);
    push(1, 2);
    writer.resendFrom(1, true);
    expect(writer.mayResend(2, true)).toBe(false);
    writer.acked(2);
    expect(writer.mayResend(2, true)).toBe(true);
    expect(target.seqsWritten()).toEqual([1, 2, 1, 2]);
  });

  it('declares a buffer that took nothing for the stall timeout stalled, once', () => {
    const { clock, writer, push, named } = setUp({ maxBufferedBytes: 500, stallTimeoutMs: 1000 });
    writer.startAt(1);
    push(1, 2);
    clock.advance(999);
    expect(named('stalled')).toEqual([]);
    clock.advance(1);
    expect(named('stalled')).toEqual([['stalled', 1000, 200]]);
    clock.advance(10_000);
    expect(named('stalled')).toHaveLength(1);
  });

  it('does not call a buffer that the peer reads, slowly, stalled; nor an empty one', () => {
    const { clock, target, writer, push, named } = setUp({ maxBufferedBytes: 500, stallTimeoutMs: 1000 });
    writer.startAt(1);
    push(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    for (let i = 0; i < 10; i += 1) {
      clock.advance(900);
      target.take(1); // one frame every 0.9 s: slow, but taken
      writer.pump();
    }
    expect(target.seqsWritten()).toHaveLength(10);
    target.take();
    clock.advance(5000);
    expect(named('stalled')).toEqual([]);
    // Live before and after: once nothing is taken again, the stall is found.
    push(11);
    clock.advance(1000);
    expect(named('stalled')).toHaveLength(1);
  });

  it('leaves no timer behind once closed or quiesced', () => {
    for (const end of ['close', 'quiesce'] as const) {
      const { clock, writer, push, named } = setUp({ stallTimeoutMs: 1000 });
      writer.startAt(1);
      push(1);
      writer[end]();
      clock.advance(10_000);
      expect(named('stalled')).toEqual([]);
    }
  });

  it('says resent only of a message written before', () => {
    const { target, outbox, writer, push, named } = setUp({ maxBufferedBytes: 200 });
    writer.startAt(1);
    push(1, 2, 3, 4);
    expect(outbox.written).toBe(2);
    target.take();
    writer.resendFrom(1, false);
    expect(target.seqsWritten()).toEqual([1, 2, 1, 2]);
    target.take();
    writer.pump();
    expect(named('resent').map((event) => event[1])).toEqual([1, 2]);
    expect(target.seqsWritten()).toEqual([1, 2, 1, 2, 3, 4]);
  });
});

describe('Outbox, what was written', () => {
  it('finds kept messages from a seq, counts the unwritten, and reports what an ack forgot', () => {
    const outbox = new Outbox(3);
    for (let seq = 1; seq <= 5; seq += 1) outbox.push(message(seq));
    expect(outbox.from(0)?.seq).toBe(3);
    expect(outbox.from(4)?.seq).toBe(4);
    expect(outbox.from(6)).toBeUndefined();
    expect(outbox.last?.seq).toBe(5);
    expect(outbox.unwritten).toBe(3);
    outbox.markWritten(4);
    outbox.markWritten(2); // never goes back
    expect(outbox.written).toBe(4);
    expect(outbox.unwritten).toBe(1);
    expect(outbox.ack(4)).toBe(2);
    expect(outbox.ack(4)).toBe(0);
    outbox.clear();
    expect(outbox.written).toBe(4);
    expect(outbox.last).toBeUndefined();
  });
});
