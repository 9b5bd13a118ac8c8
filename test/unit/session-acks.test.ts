import { fakeSession } from '../helpers/fake-session';

function session(): ReturnType<typeof fakeSession> {
  const created = fakeSession();
  created.socket.emit(
    'data',
    Buffer.from(
      '{"type":"hello","node":"n","msg":"hi","acks":true,"boot":"b"}\r{"type":"heartbeat","node":"n","seq":1,"msg":"x"}\r',
    ),
  );
  return created;
}

describe('session acks', () => {
  it('acks what the ledger has logged, once per new seq', () => {
    const { socket, session: s, due } = session();
    expect(due.length).toBeGreaterThan(0);
    const seq = s.ackDue();
    expect(seq).toBe(1);
    s.sendAck(seq!);
    expect(socket.written).toEqual(['{"type":"ack","node":"n","seq":1}\r']);
    expect(s.ackDue()).toBeUndefined();
  });

  it('skips an ack while the peer leaves more than 64 KiB of them unread (acks are cumulative)', () => {
    const { socket, session: s } = session();
    socket.writableLength = 64 * 1024 + 1;
    s.sendAck(s.ackDue()!);
    expect(socket.written).toEqual([]);
    socket.writableLength = 0;
    s.sendAck(s.ackDue()!);
    expect(socket.written).toHaveLength(1);
  });
});
