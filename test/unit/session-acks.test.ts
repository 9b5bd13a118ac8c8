import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { resolveMasterOptions } from '../../src/master';
import { SeqLedger } from '../../src/master/ledger';
import { Session, type SessionHost } from '../../src/master/session';
import { FakeClock } from '../helpers/fake-clock';
import { LogSink } from '../helpers/log-sink';

/** Just what a session uses of a socket; `writableLength` is what the peer left unread. */
class FakeSocket extends EventEmitter {
  remoteAddress = '127.0.0.1';
  remotePort = 5000;
  writableLength = 0;
  readonly written: string[] = [];
  write(text: string): boolean {
    this.written.push(text);
    return true;
  }
  destroy(): void {
    this.emit('close');
  }
}

function session(): { socket: FakeSocket; session: Session; due: Session[] } {
  const due: Session[] = [];
  const host: SessionHost = {
    options: resolveMasterOptions({ port: 0 }),
    clock: new FakeClock(),
    log: new LogSink().log,
    ledger: new SeqLedger(),
    claim: () => undefined,
    release: () => undefined,
    scheduleAck: (s) => due.push(s),
  };
  const socket = new FakeSocket();
  const created = new Session(host, socket as unknown as Socket, 1);
  socket.emit(
    'data',
    Buffer.from(
      '{"type":"hello","node":"n","msg":"hi","acks":true,"boot":"b"}\r{"type":"heartbeat","node":"n","seq":1,"msg":"x"}\r',
    ),
  );
  return { socket, session: created, due };
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
