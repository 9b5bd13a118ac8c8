import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { TLSSocket, connect as connectTls } from 'node:tls';
import { Backoff, systemClock, type Clock, type Log, type TimerHandle } from '../common';
import {
  FrameDecoder,
  computeProof,
  encodeFrame,
  heartbeatText,
  helloText,
  toAck,
  toChallenge,
  toFrame,
  type Message,
} from '../protocol';
import { ackTimeoutOf, resolveSlaveOptions, type SlaveOptions } from './options';
import { Outbox } from './outbox';

/** How long `stop()` waits for the last acks, then for the master to acknowledge our FIN. */
const CLOSE_GRACE_MS = 2000;
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
  /** Why the current connection ended, for the `disconnected` line. */
  private failure = 'closed';
  /** With reason `tls_error`: the TLS error's code and text, for the `disconnected` line. */
  private tlsFailure: { code: string | undefined; error: string } | undefined;
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
  private readonly outbox: Outbox;
  private readonly backoff: Backoff;
  private resolveDone!: () => void;
  private drained: (() => void) | undefined;
  /** Settles once the slave has stopped, by `stop()` or after `heartbeatCount` heartbeats. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(
    options: Partial<SlaveOptions>,
    private readonly log: Log,
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
      const socket = this.socket;
      if (socket !== undefined && !socket.destroyed && !socket.connecting) {
        const closed = once(socket, 'close');
        const grace = this.clock.setTimeout(() => socket.destroy(), 2 * CLOSE_GRACE_MS);
        if (this.masterAcks && this.outbox.size > 0) await this.acksOrGrace(closed);
        socket.end();
        await closed;
        this.clock.clearTimeout(grace);
      }
      this.cancelAckTimer();
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
        timer = this.clock.setTimeout(resolve, CLOSE_GRACE_MS);
      }),
    ]);
    if (timer !== undefined) this.clock.clearTimeout(timer);
    this.drained = undefined;
  }

  private connect(attempt: number): void {
    const { masterHost, masterPort, connectTimeoutMs } = this.options;
    this.write('connecting', `Connecting to ${masterHost}:${masterPort}`, { attempt });
    const socket = this.openSocket();
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
      this.backoff.reset();
      this.write('connected', `Connected to ${masterHost}:${masterPort}`, { local_port: socket.localPort });
      if (this.options.token === undefined) {
        this.sayHello(socket);
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
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (socket !== this.socket) return;
      if (!isTlsFailure(socket, err)) {
        this.failure = err.code ?? err.message;
        return;
      }
      this.failure = 'tls_error';
      const reason = (err as { reason?: unknown }).reason;
      this.tlsFailure = { code: err.code, error: typeof reason === 'string' ? reason : err.message };
    });
    socket.on('close', () => this.onClose(socket, this.failure));
  }

  /** A TCP connection, or a TLS one that checks the master's certificate and that it names `masterHost`. */
  private openSocket(): Socket {
    const { masterHost: host, masterPort: port, tls } = this.options;
    if (tls === undefined) return connect({ host, port, noDelay: true });
    const socket = connectTls({ host, port, ca: tls.ca, cert: tls.cert, key: tls.key });
    socket.setNoDelay(true);
    return socket;
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
          const challenge = token === undefined ? undefined : toChallenge(frame);
          if (token !== undefined && challenge !== undefined) {
            if (socket === this.socket && this.challengePending) this.onChallenge(socket, token, challenge.nonce);
            return;
          }
          const ack = toAck(frame);
          if (ack !== undefined && ack.node === this.options.node && socket === this.socket) {
            this.onAck(ack.seq);
            // The answer to hello says what the master has: send the rest, in order.
            if (!this.helloAnswered || ack.resend === true) this.resend(socket, ack.seq);
            this.helloAnswered = true;
          }
        },
        error: () => undefined,
      },
      { maxFrameBytes: MAX_ACK_FRAME_BYTES },
    );
    socket.on('data', (chunk: Buffer) => {
      if (this.options.acks || token !== undefined) decoder.push(chunk);
    });
  }

  private onChallenge(socket: Socket, token: string, nonce: string): void {
    this.challengePending = false;
    this.cancelTimer();
    this.sayHello(socket, computeProof(token, nonce, this.options.node, this.boot));
    this.scheduleHeartbeat();
  }

  private onAck(seq: number): void {
    this.masterAcks = true;
    this.outbox.ack(seq);
    this.cancelAckTimer();
    if (this.outbox.size > 0) this.armAckTimer();
    else this.drained?.();
  }

  /** `proof`: the answer to this connection's challenge, for a slave with a token. */
  private sayHello(socket: Socket, proof?: string): void {
    const { node, heartbeatIntervalMs, acks } = this.options;
    if (!acks) {
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
    socket.write(encodeFrame(toFrame(hello)));
    this.write('sent', hello.msg, { type: 'hello', acks: true, boot: this.boot });
    if (this.masterAcks) this.armAckTimer();
  }

  /**
   * The master lacks the seqs after `acked`: resend every kept message, in
   * order; first, if the oldest kept is past `acked + 1`, say that the ones
   * before it are gone (dropped from a full outbox) with a `skip`.
   */
  private resend(socket: Socket, acked: number): void {
    const pending = this.outbox.pending();
    const oldest = pending[0]?.seq ?? this.seq + 1;
    if (oldest > acked + 1) {
      const { node } = this.options;
      socket.write(encodeFrame({ type: 'skip', node, to: oldest - 1 }));
      this.write('skipped', `Told the master that seq ${acked + 1}-${oldest - 1} are gone`, {
        level: 'warn',
        from: acked + 1,
        to: oldest - 1,
      });
    }
    for (const message of pending) {
      socket.write(message.frame);
      this.write('resent', `Resent message ${message.seq}`, { seq: message.seq, type: message.type });
    }
  }

  private onClose(socket: Socket, reason: string): void {
    if (socket !== this.socket) return;
    this.cancelTimer();
    this.cancelAckTimer();
    if (this.stopping) return;
    this.write('disconnected', 'Disconnected from master', {
      reason,
      ...this.tlsFailure,
      unacked: this.masterAcks ? this.outbox.size : undefined,
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
    const { node, heartbeatIntervalMs, acks } = this.options;
    this.seq += 1;
    const auth = proof === undefined ? {} : { boot: this.boot, proof };
    const message: Message =
      type === 'hello'
        ? { type, node, seq: this.seq, ts: this.clock.now(), msg: helloText(node), heartbeatIntervalMs, ...auth }
        : { type, node, seq: this.seq, ts: this.clock.now(), msg: heartbeatText(node) };
    const frame = encodeFrame(toFrame(message));
    if (acks) this.keep({ seq: this.seq, type, frame });
    // Held for the answer to hello when the master acks; written at once to one that never has.
    if (!acks || this.helloAnswered || !this.masterAcks) this.socket?.write(frame);
    this.write('sent', message.msg, { seq: this.seq, type });
  }

  private keep(message: { seq: number; type: string; frame: string }): void {
    const dropped = this.outbox.push(message);
    // Dropped silently while no master acks: then the outbox only bounds memory.
    if (dropped !== undefined && this.masterAcks) {
      this.write('dropped', `Dropped unacked message ${dropped.seq}: more than ${this.outbox.capacity} unacked`, {
        level: 'warn',
        seq: dropped.seq,
      });
    }
    if (this.masterAcks && this.ackTimer === undefined) this.armAckTimer();
  }

  /** A connection that leaves a message unacked this long is dead, whatever TCP says: replace it. */
  private armAckTimer(): void {
    const timeoutMs = ackTimeoutOf(this.options);
    this.ackTimer = this.clock.setTimeout(() => {
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
    }, timeoutMs);
  }

  private cancelAckTimer(): void {
    if (this.ackTimer !== undefined) this.clock.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private write(event: string, message: string, fields: Record<string, unknown>): void {
    this.log.write({ event, message, node: this.options.node, ...fields });
  }
}

/**
 * The TLS layer failed, not the network: a master certificate this slave
 * refused (Node sets `authorizationError`), or an error of OpenSSL or of
 * Node's TLS checks — e.g. a master that asks for a client certificate this
 * slave has not, which under TLS 1.3 comes after the handshake seemed done.
 */
function isTlsFailure(socket: Socket, error: NodeJS.ErrnoException): boolean {
  if (socket instanceof TLSSocket && Boolean(socket.authorizationError)) return true;
  return /^ERR_(SSL|TLS|OSSL)_/.test(error.code ?? '');
}
