import { resolveMasterOptions } from '../../src/master';
import type { Log } from '../../src/common';
import { FAIR_SHARE_LINES, LOG_BACKLOG_HIGH_BYTES, READ_BATCH_BYTES } from '../../src/master/session';
import { FakeClock } from '../helpers/fake-clock';
import { fakeSession, type FakeSocket } from '../helpers/fake-session';
import { LogSink } from '../helpers/log-sink';

const hello = (intervalMs: number): Buffer =>
  Buffer.from(`{"type":"hello","node":"n","msg":"hi","interval_ms":${intervalMs}}\r`);

describe('limits a peer cannot choose', () => {
  it('clamps the heartbeat timeout a hello asks for, says so once, and times the peer out at the limit', async () => {
    const clock = new FakeClock();
    const { socket, sink } = fakeSession({ clock, options: resolveMasterOptions({ port: 0 }) });
    socket.emit('data', hello(86_400_000));
    const limit = await sink.waitForEvent('limit');
    expect(limit).toMatchObject({
      level: 'warn',
      limit: 'heartbeat_timeout',
      node: 'n',
      conn: 1,
      asked_ms: 3 * 86_400_000,
      applied_ms: 60_000,
    });
    clock.advance(59_999);
    sink.log.write({ event: 'marker', message: 'just before the limit' });
    await sink.waitForEvent('marker');
    expect(sink.events('disconnect')).toEqual([]);
    clock.advance(1);
    expect(await sink.waitForEvent('disconnect')).toMatchObject({ reason: 'timeout', silent_ms: 60_000 });
  });

  it('leaves a timeout within the limit, and an operator’s fixed timeout, as they are, with no limit line', async () => {
    const clock = new FakeClock();
    const fixed = fakeSession({ clock, options: resolveMasterOptions({ port: 0, heartbeatTimeoutMs: 100_000 }) });
    fixed.socket.emit('data', hello(86_400_000));
    const within = fakeSession({ clock, options: resolveMasterOptions({ port: 0 }) });
    within.socket.emit('data', hello(20_000));
    clock.advance(99_999);
    // Lines keep their order: what the advance logged comes before a marker written after it.
    for (const { sink } of [fixed, within]) {
      sink.log.write({ event: 'marker', message: 'after 99,999 ms' });
      await sink.waitForEvent('marker');
      expect(sink.events('limit')).toEqual([]);
    }
    expect(within.sink.events('disconnect')).toEqual([
      expect.objectContaining({ reason: 'timeout', silent_ms: 60_000 }),
    ]);
    expect(fixed.sink.events('disconnect')).toEqual([]);
    clock.advance(1);
    expect(await fixed.sink.waitForEvent('disconnect')).toMatchObject({ reason: 'timeout', silent_ms: 100_000 });
  });
});

const heartbeat = (seq: number): string => `{"type":"heartbeat","node":"n","seq":${seq},"msg":"beat"}\r`;
const beats = (from: number, count: number): Buffer =>
  Buffer.from(Array.from({ length: count }, (_, i) => heartbeat(from + i)).join(''));

describe('frames per second', () => {
  it('closes a connection that sends more than a second’s worth at once, rate_limited, after logging what was allowed', async () => {
    const clock = new FakeClock();
    const { socket, sink } = fakeSession({ clock, options: resolveMasterOptions({ port: 0, maxFramesPerSecond: 5 }) });
    socket.emit('data', beats(1, 7));
    expect(await sink.waitForEvent('disconnect')).toMatchObject({
      reason: 'rate_limited',
      max_frames_per_second: 5,
      seq: 5,
    });
    expect(sink.events('message').map((l) => l.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('refills at the limit: a peer that keeps to it is never closed', async () => {
    const clock = new FakeClock();
    const { socket, sink } = fakeSession({ clock, options: resolveMasterOptions({ port: 0, maxFramesPerSecond: 5 }) });
    for (let second = 0; second < 4; second++) {
      socket.emit('data', beats(second * 5 + 1, 5));
      clock.advance(1000);
    }
    await sink.waitForEvent('message', { seq: 20 });
    expect(sink.events('disconnect')).toEqual([]);
    // Still counted: a sixth frame in the same second is one too many.
    socket.emit('data', beats(21, 6));
    expect(await sink.waitForEvent('disconnect')).toMatchObject({ reason: 'rate_limited', seq: 25 });
  });
});

describe('protocol errors in bursts', () => {
  const options = resolveMasterOptions({ port: 0, maxProtocolErrors: 100 });

  it('logs the first error of a burst, then one line counting the rest by code', async () => {
    const clock = new FakeClock();
    const { socket, sink } = fakeSession({ clock, options });
    socket.emit('data', Buffer.from('nope\r[1]\r[2]\r{"seq":0}\r'));
    await sink.waitForEvent('protocol_error');
    sink.log.write({ event: 'marker', message: 'within the burst' });
    await sink.waitForEvent('marker');
    expect(sink.events('protocol_error')).toEqual([
      expect.objectContaining({ code: 'PICLUSTER_ERR_INVALID_JSON', excerpt: 'nope' }),
    ]);
    clock.advance(1000);
    const summary = (await sink.waitFor((l) => l.event === 'protocol_error' && l.repeated !== undefined)) as Record<
      string,
      unknown
    >;
    expect(summary).toMatchObject({
      level: 'warn',
      repeated: 3,
      codes: { PICLUSTER_ERR_NOT_AN_OBJECT: 2, PICLUSTER_ERR_INVALID_FIELD: 1 },
      code: 'PICLUSTER_ERR_INVALID_FIELD',
      excerpt: 'seq=0',
    });
    // After a quiet second, a new burst starts with a line of its own.
    clock.advance(1000);
    socket.emit('data', Buffer.from('again\r'));
    expect(await sink.waitForEvent('protocol_error', { excerpt: 'again' })).not.toHaveProperty('repeated');
  });

  it('writes the burst’s count before the disconnect when the errors close the connection', async () => {
    const { socket, sink } = fakeSession({ options: resolveMasterOptions({ port: 0, maxProtocolErrors: 3 }) });
    socket.emit('data', Buffer.from('a\rb\rc\r'));
    await sink.waitForEvent('disconnect');
    expect(sink.lines.filter((l) => l.event !== 'connect').map((l) => [l.event, l.repeated ?? l.errors])).toEqual([
      ['protocol_error', undefined],
      ['protocol_error', 2],
      ['disconnect', 3],
    ]);
  });
});

describe('reading in bounded batches', () => {
  it('stops reading a connection for a turn of the event loop once it has read a batch', async () => {
    const clock = new FakeClock();
    const turns: Array<() => void> = [];
    clock.afterPendingIo = (callback) => void turns.push(callback);
    const { socket, sink } = fakeSession({
      clock,
      options: resolveMasterOptions({ port: 0, maxFramesPerSecond: 1_000_000 }),
    });
    const frame = heartbeat(1);
    socket.emit('data', Buffer.from(frame));
    expect(socket.paused).toBe(false);
    const batch = beats(2, Math.ceil(READ_BATCH_BYTES / frame.length));
    socket.emit('data', batch);
    expect(socket.paused).toBe(true);
    expect(turns).toHaveLength(1);
    turns.shift()!();
    expect(socket.paused).toBe(false);
    const last = 1 + Math.ceil(READ_BATCH_BYTES / frame.length);
    expect(await sink.waitForEvent('message', { seq: last })).toBeDefined();
  });
});

describe('the answer to a hello that asks for acks', () => {
  const ackingHello = Buffer.from('{"type":"hello","node":"n","msg":"hi","interval_ms":100,"acks":true,"boot":"b1"}\r');

  it('holds no silence against the peer until it is sent, and counts it from then', async () => {
    const clock = new FakeClock();
    const { socket, session, due, sink } = fakeSession({
      clock,
      options: resolveMasterOptions({ port: 0, heartbeatTimeoutMs: 1000 }),
    });
    socket.emit('data', ackingHello);
    await sink.waitForEvent('message', { type: 'hello' });
    expect(due).toEqual([session]);
    // The log has not written the hello yet, so the answer waits: the peer sends nothing meanwhile.
    clock.advance(5000);
    sink.log.write({ event: 'marker', message: 'after 5 s without an answer' });
    await sink.waitForEvent('marker');
    expect(sink.events('disconnect')).toEqual([]);

    session.sendAck(session.ackDue()!);
    expect(socket.written.at(-1)).toContain('"type":"ack"');
    clock.advance(999);
    sink.log.write({ event: 'marker', message: 'just short of a timeout after the answer' });
    await sink.waitForEvent('marker', { message: 'just short of a timeout after the answer' });
    expect(sink.events('disconnect')).toEqual([]);
    clock.advance(1);
    expect(await sink.waitForEvent('disconnect')).toMatchObject({ reason: 'timeout', silent_ms: 1000 });
  });
});

describe('a log that falls behind', () => {
  /** The sink's log, but `backlogBytes` far above the mark, and `whenWritten` held until a test releases it. */
  function laggingLog(sink: LogSink): { log: Log; release(): void } {
    const held: Array<() => void> = [];
    const log: Log = {
      winston: sink.log.winston,
      write: (fields) => sink.log.write(fields),
      whenWritten: (callback) => void held.push(callback),
      backlogBytes: 10 * LOG_BACKLOG_HIGH_BYTES,
      close: () => sink.log.close(),
    };
    return { log, release: () => held.splice(0).forEach((callback) => callback()) };
  }

  it('makes a read of many lines wait until the log has written them, and lets a read of a few go on', async () => {
    const sink = new LogSink();
    const { log, release } = laggingLog(sink);
    const heavy = fakeSession({ log, options: resolveMasterOptions({ port: 0 }) });
    const light = fakeSession({ log, options: resolveMasterOptions({ port: 0 }) });
    light.socket.emit('data', beats(1, 2));
    expect(light.socket.paused).toBe(false);
    heavy.socket.emit('data', beats(1, FAIR_SHARE_LINES + 1));
    expect(heavy.socket.paused).toBe(true);
    release();
    expect(heavy.socket.paused).toBe(false);
  });

  /** A session with a 1 s heartbeat timeout whose read of many lines waits for a lagging log. */
  function waitingSession(clock: FakeClock): { sink: LogSink; socket: FakeSocket; release(): void } {
    const sink = new LogSink();
    const { log, release } = laggingLog(sink);
    const { socket } = fakeSession({
      clock,
      log,
      options: resolveMasterOptions({ port: 0, heartbeatTimeoutMs: 1000 }),
    });
    socket.emit('data', beats(1, FAIR_SHARE_LINES + 1));
    expect(socket.paused).toBe(true);
    return { sink, socket, release };
  }

  it('does not time out a connection for the silence of its own waiting', async () => {
    const clock = new FakeClock();
    const { sink, release } = waitingSession(clock);
    clock.advance(5000);
    sink.log.write({ event: 'marker', message: 'after 5 s of waiting' });
    await sink.waitForEvent('marker');
    expect(sink.events('disconnect')).toEqual([]);
    release();
    // Once reading again, silence counts: from the last restart of the count, at most one timeout later.
    clock.advance(1000);
    expect(await sink.waitForEvent('disconnect')).toMatchObject({ reason: 'timeout' });
  });

  it('does not time out a connection whose wait ends while a timeout is being confirmed', async () => {
    // As in the event loop: a timeout is confirmed only after pending input is read, and the log's
    // write can end (resuming the socket, whose input is read a turn later) in between.
    const clock = new (class extends FakeClock {
      readonly pendingIo: Array<() => void> = [];
      override afterPendingIo(callback: () => void): void {
        this.pendingIo.push(callback);
      }
    })();
    const { sink, socket, release } = waitingSession(clock);
    clock.advance(1000);
    expect(clock.pendingIo).toHaveLength(1);
    release();
    expect(socket.paused).toBe(false);
    clock.pendingIo.splice(0).forEach((callback) => callback());
    sink.log.write({ event: 'marker', message: 'after the confirmation' });
    await sink.waitForEvent('marker');
    expect(sink.events('disconnect')).toEqual([]);
    // Silence counts from the end of the wait: one timeout later, it is judged.
    clock.advance(1000);
    clock.pendingIo.splice(0).forEach((callback) => callback());
    expect(await sink.waitForEvent('disconnect')).toMatchObject({ reason: 'timeout', silent_ms: 1000 });
  });
});
