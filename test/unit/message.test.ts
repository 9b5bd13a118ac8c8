import { ProtocolError } from '../../src/common';
import { heartbeatText, helloText, toAck, toFrame, toMessage, wireTypeOf, type Message } from '../../src/protocol';

describe('toMessage', () => {
  it('reads the seed format, a frame with only msg, as a legacy message', () => {
    expect(toMessage({ msg: 'Hello World, I am client 1' })).toEqual({
      type: 'legacy',
      msg: 'Hello World, I am client 1',
    });
  });

  it('reads hello with its interval and heartbeat with node, seq, ts', () => {
    expect(toMessage({ type: 'hello', node: 'n1', seq: 1, ts: 5, msg: helloText('n1'), interval_ms: 250 })).toEqual({
      type: 'hello',
      node: 'n1',
      seq: 1,
      ts: 5,
      msg: 'Hello World, I am client n1',
      heartbeatIntervalMs: 250,
    });
    expect(toMessage({ type: 'heartbeat', node: 'n1', seq: 2, msg: heartbeatText('n1') })).toEqual({
      type: 'heartbeat',
      node: 'n1',
      seq: 2,
      msg: 'I am still alive, client: n1',
    });
  });

  it('ignores unknown fields and keeps unknown types', () => {
    const message = toMessage({ type: 'metrics', node: 'n1', seq: 3, msg: 'cpu 3%', extra: { x: 1 } }) as Message;
    expect(message).toEqual({ type: 'other', wireType: 'metrics', node: 'n1', seq: 3, msg: 'cpu 3%' });
    expect(wireTypeOf(message)).toBe('metrics');
  });

  it('gives msg "" to a frame without one', () => {
    expect(toMessage({ type: 'heartbeat' })).toEqual({ type: 'heartbeat', msg: '' });
  });

  it.each([
    [{ msg: 42 }, 'msg'],
    [{ node: '' }, 'node'],
    [{ node: 'x'.repeat(129) }, 'node'],
    [{ seq: 0 }, 'seq'],
    [{ seq: 1.5 }, 'seq'],
    [{ seq: '3' }, 'seq'],
    [{ ts: 'now' }, 'ts'],
    [{ type: 7 }, 'type'],
    [{ type: 'hello', interval_ms: -1 }, 'interval_ms'],
  ])('refuses %j, naming field %s', (frame, field) => {
    const result = toMessage(frame);
    expect(result).toBeInstanceOf(ProtocolError);
    expect((result as ProtocolError).code).toBe('PICLUSTER_ERR_INVALID_FIELD');
    expect((result as ProtocolError).excerpt.startsWith(`${field}=`)).toBe(true);
  });

  it('names a bad field of any depth or size without walking it', () => {
    // 50,000 levels, built without recursion, as JSON.parse would hand them over.
    let deep: unknown = [];
    for (let i = 0; i < 50_000; i++) deep = [deep];
    const error = toMessage({ msg: deep, node: 'n' }) as ProtocolError;
    expect(error.code).toBe('PICLUSTER_ERR_INVALID_FIELD');
    expect(error.excerpt).toBe('msg=[array of 1]');
    expect((toMessage({ node: { a: 1 } }) as ProtocolError).excerpt).toBe('node={object}');
    expect((toMessage({ node: 'x'.repeat(10_000) }) as ProtocolError).excerpt).toMatch(/^node="x{50,}…$/);
  });

  it('round-trips through toFrame', () => {
    const messages: Message[] = [
      { type: 'hello', node: 'a', seq: 1, ts: 1, msg: 'hi', heartbeatIntervalMs: 100 },
      { type: 'heartbeat', node: 'a', seq: 2, msg: 'beat' },
      { type: 'legacy', msg: 'old' },
      { type: 'other', wireType: 'x', msg: '' },
    ];
    for (const message of messages) expect(toMessage(toFrame(message))).toEqual(message);
    expect(toFrame({ type: 'legacy', msg: 'old' })).toEqual({ msg: 'old' });
  });
});

describe('acks on the wire', () => {
  it('reads a hello that asks for acks, with its boot id, and writes it back the same', () => {
    const frame = { type: 'hello', node: 'n', msg: 'hi', interval_ms: 100, acks: true, boot: 'b1' };
    const hello = toMessage(frame);
    expect(hello).toEqual({ type: 'hello', node: 'n', msg: 'hi', heartbeatIntervalMs: 100, acks: true, boot: 'b1' });
    expect(toFrame(hello as Message)).toEqual(frame);
  });

  it.each([
    [{ type: 'hello', node: 'n', acks: 'yes', boot: 'b' }, 'acks'],
    [{ type: 'hello', node: 'n', acks: true }, 'boot'],
    [{ type: 'hello', acks: true, boot: 'b' }, 'node'],
    [{ type: 'hello', node: 'n', boot: 'x'.repeat(65) }, 'boot'],
    [{ type: 'hello', node: 'n', acks: true, boot: 'b', seq: 1 }, 'seq'],
  ])('refuses a bad hello %j (field %s)', (frame, field) => {
    const error = toMessage(frame) as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe('PICLUSTER_ERR_INVALID_FIELD');
    expect(error.message).toContain(`"${field}"`);
  });

  it('reads an ack, and nothing else as one', () => {
    expect(toAck({ type: 'ack', node: 'n', seq: 0 })).toEqual({ type: 'ack', node: 'n', seq: 0 });
    expect(toAck({ type: 'ack', node: 'n', seq: -1 })).toBeUndefined();
    expect(toAck({ type: 'ack', seq: 3 })).toBeUndefined();
    expect(toAck({ type: 'heartbeat', node: 'n', seq: 3 })).toBeUndefined();
  });
});
