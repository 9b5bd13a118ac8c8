import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { resolveMasterOptions } from '../../src/master';
import { SeqLedger } from '../../src/master/ledger';
import { Session, type SessionHost } from '../../src/master/session';
import { FakeClock } from './fake-clock';
import { LogSink } from './log-sink';

/** Just what a session uses of a socket; `writableLength` is what the peer left unread. */
export class FakeSocket extends EventEmitter {
  remoteAddress = '127.0.0.1';
  remotePort = 5000;
  writableLength = 0;
  /** Whether the session has stopped reading (it yields to other connections). */
  paused = false;
  readonly written: string[] = [];
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  write(text: string): boolean {
    this.written.push(text);
    return true;
  }
  destroy(): void {
    this.emit('close');
  }
}

/** A session on a fake socket, with a host whose parts a test may replace; `due` collects scheduled acks. */
export function fakeSession(host: Partial<SessionHost> = {}): {
  socket: FakeSocket;
  session: Session;
  due: Session[];
  sink: LogSink;
} {
  const due: Session[] = [];
  const sink = new LogSink();
  const fullHost: SessionHost = {
    options: resolveMasterOptions({ port: 0 }),
    clock: new FakeClock(),
    log: sink.log,
    ledger: new SeqLedger(),
    claim: () => undefined,
    release: () => undefined,
    scheduleAck: (s) => due.push(s),
    ...host,
  };
  const socket = new FakeSocket();
  const session = new Session(fullHost, socket as unknown as Socket, 1);
  return { socket, session, due, sink };
}
