import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { Backoff, systemClock, type Clock, type Log, type TimerHandle } from '../common';
import {
  BAD_ACK_CODE,
  FrameDecoder,
  computeProof,
  encodeFrame,
  excerptOf,
  heartbeatText,
  helloText,
  toAck,
  toChallenge,
  toFrame,
  type Ack,
  type Message,
  type SlaveEvent,
  type SlaveLogWrite,
} from '../protocol';
import { ackTimeoutOf, resolveSlaveOptions, type SlaveOptions } from './options';
import { ConnectionWriter, MAX_BUFFERED_BYTES } from './connection-writer';
import { failureOf, openMasterSocket, type SocketFailure } from './master-socket';
import { Outbox } from './outbox';

/** What `write` takes for `event` beyond its message: the line's own fields, and its level. */
type SlaveFields<E extends SlaveEvent> = Omit<Extract<SlaveLogWrite, { event: E }>, 'event' | 'message' | 'node'>;

/** How long `stop()` waits for the last acks. */
const ACK_GRACE_MS = 750;
/**
 * When `stop()` destroys the connection if the master has not taken our FIN: a
 * master that reads nothing never does. Counted from the call, so that the
 * process exits within the 2 s docs/cli.md promises, its last log lines written.
 */
const CLOSE_GRACE_MS = 1000;
/** Acks are small; anything longer from the master is not one. */
const MAX_ACK_FRAME_BYTES = 1024;

/**
 * A slave: connects to the master, says hello, then sends a heartbeat every
 * interval, numbering every message across reconnects. Any failure leads to a
 * reconnect after a jittered, capped, exponential backoff.
 *
 * With acks (the default), it keeps each message until the master acks it and
 * resends the unacked ones, in order, after a reconnect; a connection whose
 * acks stop coming is replaced. It never needs the master to write anything
 * back: until a master has acked once, none of that applies (the seed's
 * master only reads).
 */
export class Slave {
  readonly options: SlaveOptions;
  /** This process's incarnation: a restarted slave numbers its messages from 1 again. */
  readonly boot = randomBytes(8).toString('hex');
  private socket: Socket | undefined;
  /** The current connection's write side, once it is connected. */
  private writer: ConnectionWriter | undefined;
  /** Why the current connection ended, for the `disconnected` line. */
  private failure = 'closed';
  /** With reason `tls_error`: the TLS error's code and text, for the `disconnected` line. */
  private tlsFailure: SocketFailure['tls'];
  private seq = 0;
  private heartbeatsSent = 0;
  private timer: TimerHandle | undefined;
  private ackTimer: TimerHandle | undefined;
  private stopping = false;
  /** A master has acked at least once: unacked messages are resent, and silence means a dead link. */
  private masterAcks = false;
  /** The master answered this connection's hello: what was held back for it may go. */
  private helloAnswered = false;
  /** With a token: this connection's hello waits for the master's challenge. */
  private challengePending = false;
  /** The last connection was dropped for the master's fault: the next one does not reset the backoff. */
  private distrusted = false;
  private readonly outbox: Outbox;
  private readonly backoff: Backoff;
  private resolveDone!: () => void;
  private drained: (() => void) | undefined;
  /** Settles once the slave has stopped, by `stop()` or after `heartbeatCount` heartbeats. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(
    options: Partial<SlaveOptions>,
    private readonly log: Log<SlaveLogWrite>,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = resolveSlaveOptions(options);
    this.backoff = new Backoff(this.options.backoff);
    this.outbox = new Outbox(this.options.maxUnacked);
  }

  /** Messages numbered so far; the last one's seq. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Messages sent and not acked yet. */
  get unacked(): number {
    return this.outbox.size;
  }

  /** `idSource` only goes into the `starting` line, to say where the node id came from. */
  start(idSource?: string): this {
    const { node, masterHost, masterPort, heartbeatIntervalMs, acks } = this.options;
    this.write('starting', `Slave ${node} starting`, {
      master: `${masterHost}:${masterPort}`,
      interval_ms: heartbeatIntervalMs,
      id_source: idSource,
      acks,
      boot: acks ? this.boot : undefined,
      // Whether this slave proves a token; never the token itself.
      auth: this.options.token !== undefined ? 'token' : undefined,
      tls: this.options.tls !== undefined ? true : undefined,
    });
    this.connect(1);
    return this;
  }

  /**
   * Stops sending, waits (a little) for the acks of what was sent, then closes
   * the connection cleanly (FIN) and stops. Idempotent.
   */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.cancelTimer();
      this.cancelAckTimer();
      this.writer?.quiesce();
      const socket = this.socket;
      if (socket !== undefined && !socket.destroyed && !socket.connecting) {
        // Not `once(socket, 'close')`, which rejects on an 'error' (a reset) and would make stop() throw.
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        // A master that reads nothing never takes our FIN, which waits behind a full write buffer.
        const deadline = this.clock.setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
        if (this.masterAcks && this.outbox.size > 0) await this.acksOrGrace(closed);
        socket.end();
        await closed;
        this.clock.clearTimeout(deadline);
      }
      socket?.destroy();
      this.write('stopped', `Slave ${this.options.node} stopped`, {
        sent: this.seq,
        unacked: this.masterAcks && this.outbox.size > 0 ? this.outbox.size : undefined,
      });
      this.resolveDone();
    }
    return this.done;
  }

  /** Resolves once everything sent is acked, the connection closed, or after the grace. */
  private async acksOrGrace(closed: Promise<unknown>): Promise<void> {
    let timer: TimerHandle | undefined;
    await Promise.race([
      closed,
      new Promise<void>((resolve) => {
        this.drained = resolve;
        timer = this.clock.setTimeout(resolve, ACK_GRACE_MS);
      }),
    ]);
    if (timer !== undefined) this.clock.clearTimeout(timer);
    this.drained = undefined;
  }

  private connect(attempt: number): void {
    const { masterHost, masterPort, connectTimeoutMs } = this.options;
    this.write('connecting', `Connecting to ${masterHost}:${masterPort}`, { attempt });
    const socket = openMasterSocket(this.options);
    this.socket = socket;
    this.failure = 'closed';
    this.tlsFailure = undefined;
    // A cut network drops SYNs silently; without this a connect would hang for minutes.
    // With TLS it runs until the handshake is done: a master that never answers one is no better.
    socket.setTimeout(connectTimeoutMs, () => {
      this.failure = 'connect_timeout';
      socket.destroy();
    });
    socket.on(socket instanceof TLSSocket ? 'secureConnect' : 'connect', () => {
      socket.setTimeout(0);
      this.helloAnswered = false;
      this.writer = this.openWriter(socket);
      this.write('connected', `Connected to ${masterHost}:${masterPort}`, { local_port: socket.localPort });
      if (this.options.token === undefined) {
        this.masterAnswered();
        this.sayHello(this.writer);
        this.scheduleHeartbeat();
        return;
      }
      // Nothing goes out before the hello that proves the token, which needs the master's nonce. A master
      // without a token (or the seed's) sends none: give up on it as on a connect that hangs.
      this.challengePending = true;
      this.timer = this.clock.setTimeout(() => {
        this.failure = 'no_challenge';
        socket.destroy();
      }, connectTimeoutMs);
    });
    this.readAcks(socket);
    socket.on('drain', () => {
      if (socket === this.socket) this.writer?.pump();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (socket !== this.socket) return;
      const { reason, tls } = failureOf(socket, err);
      this.failure = reason;
      this.tlsFailure = tls;
    });
    socket.on('close', () => this.onClose(socket, this.failure));
  }

  /** The connection's write side; what the master's reading, or not reading, does to it is logged here. */
  private openWriter(socket: Socket): ConnectionWriter {
    const stallTimeoutMs = ackTimeoutOf(this.options);
    const options = { maxBufferedBytes: MAX_BUFFERED_BYTES, stallTimeoutMs, forgetWritten: !this.options.acks };
    return new ConnectionWriter(socket, this.outbox, this.clock, options, {
      resent: ({ seq, type }) => this.write('resent', `Resent message ${seq}`, { seq, type }),
      held: (seq, bufferedBytes) =>
        this.write('held', `The master is not reading: messages from seq ${seq} wait`, {
          level: 'warn',
          seq,
          buffered_bytes: bufferedBytes,
        }),
      resumed: (written, heldMs) =>
        this.write('resumed', `Wrote ${written} messages held for ${heldMs} ms`, { held: written, held_ms: heldMs }),
      stalled: (stalledMs, bufferedBytes) => {
        if (socket !== this.socket || this.stopping) return;
        // With no acks to miss (a master that never acks), this is how a peer that stopped reading is found.
        this.write('write_stalled', `The master took nothing for ${stalledMs} ms: dropping the connection`, {
          level: 'warn',
          stalled_ms: stalledMs,
          buffered_bytes: bufferedBytes,
        });
        this.failure = 'write_stalled';
        this.distrusted = true;
        socket.destroy();
      },
    });
  }

  /**
   * Acks and challenges from the master. Anything else it writes is read and
   * dropped, so a chatty master cannot fill our buffers (the seed's master
   * writes nothing). Without a token, a challenge is dropped too: the master
   * then ends the connection and says why in its log.
   */
  private readAcks(socket: Socket): void {
    const { token } = this.options;
    const decoder = new FrameDecoder(
      {
        frame: (frame) => {
          // The rest of a chunk that ended its connection (a bad ack) is not read.
          if (socket !== this.socket || socket.destroyed) return;
          const challenge = token === undefined ? undefined : toChallenge(frame);
          if (token !== undefined && challenge !== undefined) {
            if (this.challengePending && this.writer !== undefined) {
              this.onChallenge(this.writer, token, challenge.nonce);
            }
            return;
          }
          const ack = toAck(frame);
          if (ack !== undefined && ack.node === this.options.node && this.options.acks && this.writer !== undefined) {
            this.onAck(this.writer, ack, frame);
          }
        },
        error: () => undefined,
      },
      { maxFrameBytes: MAX_ACK_FRAME_BYTES },
    );
    socket.on('data', (chunk: Buffer) => {
      // Once stop() no longer waits for acks, what the master sends is read (for its FIN) but not
      // parsed: a flood must not delay the exit.
      if (this.stopping && this.drained === undefined) return;
      if (this.options.acks || token !== undefined) decoder.push(chunk);
    });
  }

  /**
   * The master is serving this connection: the next reconnect starts from the
   * shortest delay again. With a token that is once its challenge came, not
   * at connect: a master too busy to send one before the connect timeout has
   * a queue of connections to accept, and reconnects at the shortest delay
   * would only lengthen it.
   */
  private masterAnswered(): void {
    // After a master that broke the protocol or stopped reading, the delays go on growing.
    if (this.distrusted) this.distrusted = false;
    else this.backoff.reset();
  }

  private onChallenge(writer: ConnectionWriter, token: string, nonce: string): void {
    this.challengePending = false;
    this.cancelTimer();
    this.masterAnswered();
    this.sayHello(writer, computeProof(token, nonce, this.options.node, this.boot));
    this.scheduleHeartbeat();
  }

  private onAck(writer: ConnectionWriter, ack: Ack, frame: Record<string, unknown>): void {
    // An ack (or a resend request) for a seq never written is a lie or a bug of the master's:
    // acting on it would forget messages it never had.
    if (ack.seq > this.outbox.written) {
      this.refuseAck(ack, frame);
      return;
    }
    this.masterAcks = true;
    const forgotten = this.outbox.ack(ack.seq);
    writer.acked(ack.seq);
    // The answer to hello says what the master has: send the rest, in order.
    const answer = !this.helloAnswered || ack.resend === true;
    this.helloAnswered = true;
    const resending = answer && !this.stopping && this.resend(writer, ack.seq, ack.resend === true);
    if (this.outbox.size === 0) {
      this.cancelAckTimer();
      this.drained?.();
    } else if (forgotten > 0 || resending || this.ackTimer === undefined) {
      // Only progress restarts the timeout: acks that move nothing (a flood of stale resend
      // requests) must not keep a connection that delivers nothing alive.
      this.cancelAckTimer();
      this.armAckTimer();
    }
  }

  /** Drops the connection of a master that acked, or asked for a resend after, a seq never sent. */
  private refuseAck(ack: Ack, frame: Record<string, unknown>): void {
    const written = this.outbox.written;
    const what = ack.resend === true ? 'asked for a resend after' : 'acked';
    this.write('protocol_error', `The master ${what} seq ${ack.seq}; the last sent is ${written}`, {
      level: 'warn',
      code: BAD_ACK_CODE,
      excerpt: excerptOf(JSON.stringify(frame)),
      seq: ack.seq,
      last_seq: written,
    });
    this.failure = 'bad_ack';
    this.distrusted = true;
    this.socket?.destroy();
  }

  /** `proof`: the answer to this connection's challenge, for a slave with a token. */
  private sayHello(writer: ConnectionWriter, proof?: string): void {
    const { node, heartbeatIntervalMs, acks } = this.options;
    if (!acks) {
      writer.startAt(this.outbox.written + 1);
      this.send('hello', proof);
      return;
    }
    // A hello that asks for acks opens a connection and has no seq. With a master known to ack,
    // numbered messages wait for its answer (the seq it has), so that none is logged on a
    // connection whose hello was lost and none is resent twice; an unanswered hello times out.
    const hello: Message = {
      type: 'hello',
      node,
      ts: this.clock.now(),
      msg: helloText(node),
      heartbeatIntervalMs,
      acks: true,
      boot: this.boot,
      proof,
    };
    writer.writeFrame(encodeFrame(toFrame(hello)));
    this.write('sent', hello.msg, { type: 'hello', acks: true, boot: this.boot });
    // A master that has never acked gets at once, after the hello, what no connection took yet.
    if (this.masterAcks) this.armAckTimer();
    else writer.startAt(this.outbox.written + 1);
  }

  /**
   * The master lacks the seqs after `acked`: resend every kept message, in
   * order; first, if the oldest kept is past `acked + 1`, say that the ones
   * before it are gone (dropped from a full outbox) with a `skip`. `asked`:
   * by a resend request, not the answer to hello. False when ignored.
   */
  private resend(writer: ConnectionWriter, acked: number, asked: boolean): boolean {
    if (!writer.mayResend(acked + 1, asked)) return false;
    const oldest = this.outbox.from(acked + 1)?.seq ?? this.seq + 1;
    if (oldest > acked + 1) {
      const { node } = this.options;
      writer.writeFrame(encodeFrame({ type: 'skip', node, to: oldest - 1 }));
      this.write('skipped', `Told the master that seq ${acked + 1}-${oldest - 1} are gone`, {
        level: 'warn',
        from: acked + 1,
        to: oldest - 1,
      });
    }
    writer.resendFrom(acked + 1, asked);
    return true;
  }

  private onClose(socket: Socket, reason: string): void {
    if (socket !== this.socket) return;
    this.cancelTimer();
    this.cancelAckTimer();
    const ignored = this.writer?.ignoredResends ?? 0;
    this.writer?.close();
    this.writer = undefined;
    const held = this.outbox.unwritten;
    // Fire and forget: what the buffer could not take is lost with the connection, as what was in it is.
    if (!this.options.acks) this.outbox.clear();
    if (this.stopping) return;
    this.write('disconnected', 'Disconnected from master', {
      reason,
      ...this.tlsFailure,
      unacked: this.masterAcks ? this.outbox.size : undefined,
      held: held > 0 ? held : undefined,
      ignored_resends: ignored > 0 ? ignored : undefined,
    });
    const { attempt, delayMs } = this.backoff.next();
    this.write('reconnecting', `Reconnecting in ${delayMs} ms`, { attempt, delay_ms: delayMs });
    this.timer = this.clock.setTimeout(() => this.connect(attempt + 1), delayMs);
  }

  private scheduleHeartbeat(): void {
    const { heartbeatCount, heartbeatIntervalMs } = this.options;
    if (heartbeatCount !== undefined && this.heartbeatsSent >= heartbeatCount) {
      void this.stop();
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      this.send('heartbeat');
      this.heartbeatsSent += 1;
      this.scheduleHeartbeat();
    }, heartbeatIntervalMs);
  }

  /** `proof` goes into a hello only, with the boot it is of. */
  private send(type: 'hello' | 'heartbeat', proof?: string): void {
    const { node, heartbeatIntervalMs } = this.options;
    this.seq += 1;
    const auth = proof === undefined ? {} : { boot: this.boot, proof };
    const message: Message =
      type === 'hello'
        ? { type, node, seq: this.seq, ts: this.clock.now(), msg: helloText(node), heartbeatIntervalMs, ...auth }
        : { type, node, seq: this.seq, ts: this.clock.now(), msg: heartbeatText(node) };
    this.keep({ seq: this.seq, type, frame: encodeFrame(toFrame(message)) });
    this.write('sent', message.msg, { seq: this.seq, type });
    // Written now if the connection may take it; else it waits in the outbox, even without acks.
    this.writer?.pump();
  }

  private keep(message: { seq: number; type: string; frame: string }): void {
    const dropped = this.outbox.push(message);
    // One that was written is dropped silently while no master acks: then the outbox only bounds
    // memory. One that never was (the master did not read) is lost whatever the master.
    if (dropped !== undefined && (this.masterAcks || dropped.seq > this.outbox.written)) {
      this.write('dropped', `Dropped unacked message ${dropped.seq}: more than ${this.outbox.capacity} unacked`, {
        level: 'warn',
        seq: dropped.seq,
      });
    }
    if (this.masterAcks && this.ackTimer === undefined) this.armAckTimer();
  }

  /** A connection that leaves a message unacked this long is dead, whatever TCP says: replace it. */
  private armAckTimer(): void {
    if (this.stopping) return;
    const timeoutMs = ackTimeoutOf(this.options);
    const timer = this.clock.setTimeout(() => {
      // Timers run before the event loop reads sockets: after a stall (a busy
      // machine, GC) an ack that came in time may still be unread. Judge once
      // it has been read; an ack cancels or re-arms the timer meanwhile.
      this.clock.afterPendingIo(() => {
        if (this.ackTimer === timer) this.onAckTimeout(timeoutMs);
      });
    }, timeoutMs);
    this.ackTimer = timer;
  }

  private onAckTimeout(timeoutMs: number): void {
    this.ackTimer = undefined;
    const socket = this.socket;
    if (socket === undefined || socket.destroyed || this.stopping) return;
    this.write('ack_timeout', `No ack for ${timeoutMs} ms: dropping the connection`, {
      level: 'warn',
      timeout_ms: timeoutMs,
      unacked: this.outbox.size,
    });
    this.failure = 'ack_timeout';
    socket.destroy();
  }

  private cancelAckTimer(): void {
    if (this.ackTimer !== undefined) this.clock.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Logs `event`; every line names this slave, right after its message. */
  private write<E extends SlaveEvent>(event: E, message: string, fields: SlaveFields<E>): void {
    this.log.write({ event, message, node: this.options.node, ...fields } as SlaveLogWrite);
  }
}
