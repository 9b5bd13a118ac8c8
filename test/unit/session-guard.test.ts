import { fakeSession } from '../helpers/fake-session';

describe('a session whose input handling throws', () => {
  it('ends that connection with reason internal_error, the code and a stack excerpt, and throws nothing', async () => {
    const bug = Object.assign(new Error('ledger exploded'), { code: 'EBUG' });
    const { socket, sink } = fakeSession({
      claim: () => {
        throw bug;
      },
    });
    expect(() => socket.emit('data', Buffer.from('{"type":"hello","node":"n","msg":"hi"}\r'))).not.toThrow();
    const line = await sink.waitForEvent('disconnect');
    expect(line).toMatchObject({ reason: 'internal_error', code: 'EBUG', conn: 1 });
    expect(line.error).toMatch(/^Error: ledger exploded\\x0a {4}at /);
    expect((line.error as string).length).toBeLessThanOrEqual(240);
    // Input after the end is ignored, not a second disconnect: lines keep their order, so
    // anything logged for that input comes before a marker written after it.
    socket.emit('data', Buffer.from('{"msg":"late"}\r'));
    socket.emit('end');
    sink.log.write({ event: 'marker', message: 'after the late input' });
    await sink.waitForEvent('marker');
    expect(sink.lines.map((l) => l.event)).toEqual(['connect', 'disconnect', 'marker']);
  });

  it('keeps a well-behaved session unaffected', async () => {
    const { socket, sink } = fakeSession();
    socket.emit(
      'data',
      Buffer.from('{"type":"hello","node":"n","msg":"hi"}\r{"type":"heartbeat","node":"n","msg":"b"}\r'),
    );
    await sink.waitForEvent('message', { type: 'heartbeat' });
    expect(sink.lines.map((l) => l.event)).toEqual(['connect', 'message', 'message']);
  });
});
