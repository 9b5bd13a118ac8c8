import type { Socket } from 'node:net';
import { ProtocolError, type Clock, type Log } from '../common';
import {
  FrameDecoder,
  createNonce,
  encodeFrame,
  excerptOf,
  toMessage,
  toSkip,
  verifyProof,
  wireTypeOf,
  type AuthFailure,
  type DisconnectReason,
  type MasterLine,
  type MasterLogWrite,
  type Message,
} from '../protocol';
import { BurstCounter, type Burst } from './burst-counter';
import { FrameRate } from './frame-rate';
import { remoteOf } from './handshake-failures';
import { detectorOf } from './failure-detector';
import { HeartbeatMonitor } from './heartbeat-monitor';
import type { SeqLedger } from './ledger';
import type { MasterMetrics } from './metrics';
import type { MasterOptions } from './options';

/** What a `disconnect` line says beyond what every one says: the fields of its reason. */
export type DisconnectExtra = Partial<
  Pick<
    MasterLine<'disconnect'>,
    'silent_ms' | 'detector' | 'phi' | 'errors' | 'replaced_by' | 'code' | 'error' | 'max_frames_per_second'
  >
>;

/** The stack excerpt an `internal_error` disconnect carries, in characters. */
const INTERNAL_ERROR_EXCERPT_CHARS = 240;

/** What a session needs from the master that owns it. */
export interface SessionHost {
  readonly options: MasterOptions;
  readonly clock: Clock;
  readonly log: Log<MasterLogWrite>;
  readonly ledger: SeqLedger;
  /** Counts what no log line says at once: acks sent, resends deduplicated. Unset without metrics. */
  readonly metrics?: MasterMetrics | undefined;
  /** The session now speaks for `node`; the host ends any other session of that node. */
  claim(session: Session, node: string): void;
  /** The session has ended and logged its disconnect. */
  release(session: Session): void;
  /** The session has something to ack once the lines logged so far are written. */
  scheduleAck(session: Session): void;
}

/** Acks are cumulative, so one can be skipped: a peer that does not read them must not fill our memory. */
const MAX_UNREAD_ACK_BYTES = 64 * 1024;

/**
 * Bytes a connection may have read before it yields to the others for a turn
 * of the event loop: one socket read's worth. Without it, libuv reads a
 * readable socket up to 32 times in a row, and a flooding peer's 2 MiB would
 * be handled before another slave's one frame.
 */
export const READ_BATCH_BYTES = 64 * 1024;

/**
 * The log's record (the log file, or stdout when there is no file) this many
 * bytes behind (a slow disk, a slow reader of that stdout) makes heavy
 * connections wait for it: the master reads no faster than its record is
 * written, and memory does not grow with the backlog.
 */
export const LOG_BACKLOG_HIGH_BYTES = 64 * 1024;

/**
 * While the log is behind, a read that made more lines than this waits until
 * the log has written what it had; a slave's heartbeats make one or two a read
 * and go on, so a flood cannot delay their lines and acks behind its own.
 */
export const FAIR_SHARE_LINES = 64;

/**
 * After a logged protocol error, further ones of the same connection within
 * this many ms are counted into one line, not logged one by one.
 */
export const PROTOCOL_ERROR_BURST_MS = 1000;

/** One slave connection: its decoder, its node id, its heartbeat monitor. */
export class Session {
  /** The node id: from the first frame that names one, else the peer's address. */
  node: string;
  private namedNode = false;
  private lastSeq: number | undefined;
  /**
   * The process id (`boot`) of a peer whose hello asked for acks: its numbered
   * messages go through the ledger, and a gap is logged for that process.
   * Undefined for a peer that did not ask.
   */
  private boot: string | undefined;
  /** Highest seq acked on this connection; -1 before the first ack (the answer to hello). */
  private ackedSeq = -1;
  /**
   * The hello asked for acks and its answer has not gone out: the peer sends
   * no numbered message until it comes (the answer says where to start), so
   * its silence meanwhile is not held against it.
   */
  private answerOwed = false;
  private duplicates = 0;
  /** An ack is scheduled with the host: one request per turn, not one per message. */
  private ackScheduled = false;
  /** Messages not logged because they came beyond a missing seq (they come again, resent). */
  private ahead = 0;
  /** The ledger's seq when this connection last asked for a resend: one request per gap. */
  private resendAskedAt = -1;
  private protocolErrors = 0;
  private readonly errorBursts: BurstCounter<ProtocolError>;
  private readonly frameRate: FrameRate;
  /** Bytes read since this connection last yielded to the others. */
  private unyieldedBytes = 0;
  /** Lines logged while handling the current read. */
  private linesThisRead = 0;
  /** Not reading until the log has written what it had: see {@link FAIR_SHARE_LINES}. */
  private waitingForLog = false;
  private ended = false;
  private peerReason: DisconnectReason = 'closed';
  private readonly decoder: FrameDecoder;
  private readonly monitor: HeartbeatMonitor;
  private now = 0;
  /** Set while a master with a token waits for this connection's proof: the token, and the nonce it was sent. */
  private pendingAuth: { token: string; nonce: string } | undefined;

  constructor(
    private readonly host: SessionHost,
    private readonly socket: Socket,
    readonly conn: number,
  ) {
    const remote = remoteOf(socket) ?? 'unknown:0';
    this.node = remote;
    const { options, clock, log } = host;
    this.decoder = new FrameDecoder(
      // Every frame the peer sends costs a token, a bad one too.
      {
        frame: (value) => {
          if (this.takeFrameToken()) this.onFrame(value);
        },
        error: (error) => {
          if (this.takeFrameToken()) this.onProtocolError(error);
        },
      },
      { maxFrameBytes: options.maxFrameBytes, maxFrameDepth: options.maxFrameDepth },
    );
    this.monitor = new HeartbeatMonitor(clock, detectorOf(options, clock.now()), (silentMs, suspicion) =>
      // Silence while the master was not reading, or had not answered the hello the peer waits
      // for before it numbers a message, is the master's, not the peer's.
      this.waitingForLog || this.answerOwed
        ? this.monitor.restart(clock.now())
        : this.end('timeout', { silent_ms: silentMs, ...suspicion }),
    );
    this.frameRate = new FrameRate(options.maxFramesPerSecond, clock.now());
    this.errorBursts = new BurstCounter(clock, PROTOCOL_ERROR_BURST_MS, (burst) => this.logProtocolErrors(burst));
    log.write({ event: 'connect', message: 'Client connected', conn, remote, node: remote });
    if (options.token !== undefined) {
      this.pendingAuth = { token: options.token, nonce: createNonce() };
      socket.write(encodeFrame({ type: 'challenge', nonce: this.pendingAuth.nonce }));
    }

    socket.on('data', (chunk: Buffer) => {
      this.now = clock.now();
      this.linesThisRead = 0;
      this.guarded(() => this.decoder.push(chunk));
      this.unyieldedBytes += chunk.length;
      if (this.linesThisRead > FAIR_SHARE_LINES && this.host.log.backlogBytes > LOG_BACKLOG_HIGH_BYTES) {
        this.waitForLog();
      } else if (this.unyieldedBytes >= READ_BATCH_BYTES) {
        this.yieldToOthers();
      }
    });
    socket.on('end', () => {
      this.peerReason = 'closed';
      // A peer that half-closes right after its last frame, without a separator, still gets it logged.
      this.guarded(() => this.decoder.end());
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.peerReason = err.code === 'ETIMEDOUT' ? 'timeout' : 'reset';
    });
    socket.on('close', () => this.end(this.peerReason));
  }

  /**
   * Runs the handling of the peer's input. Whatever it throws is our bug, but
   * the peer's input led to it: that connection ends (`internal_error`, with
   * the error's code and a stack excerpt) and every other one goes on.
   */
  private guarded(handle: () => void): void {
    try {
      handle();
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const code = (error as NodeJS.ErrnoException).code ?? error.name;
      this.end('internal_error', {
        code,
        error: excerptOf(error.stack ?? error.message, INTERNAL_ERROR_EXCERPT_CHARS),
      });
    }
  }

  /**
   * Stops reading this connection until the next turn of the event loop, so
   * that every other readable connection is read first: a peer that floods
   * costs the others one batch of its frames per turn, not all it has sent.
   */
  private yieldToOthers(): void {
    this.unyieldedBytes = 0;
    this.socket.pause();
    this.host.clock.afterPendingIo(() => {
      if (!this.ended && !this.waitingForLog) this.socket.resume();
    });
  }

  /** Stops reading this connection until every line logged so far is written. */
  private waitForLog(): void {
    this.unyieldedBytes = 0;
    this.waitingForLog = true;
    this.socket.pause();
    this.host.log.whenWritten(() => {
      this.waitingForLog = false;
      if (this.ended) return;
      // Silence counts from now on: a check already confirming (it waits for pending input, which
      // this paused socket did not give) must not judge the time the master was not reading.
      this.monitor.restart(this.host.clock.now());
      this.socket.resume();
    });
  }

  /**
   * Whether the peer may send this frame. Beyond `maxFramesPerSecond` the
   * connection ends, `rate_limited`: a peer must not turn 3 bytes a frame
   * into a log line each as fast as loopback carries them.
   */
  private takeFrameToken(): boolean {
    if (this.frameRate.take(this.now)) return true;
    this.end('rate_limited', { max_frames_per_second: this.frameRate.perSecond });
    return false;
  }

  /** Ends the session: logs its one `disconnect` line and closes the socket. Idempotent. */
  end(reason: DisconnectReason, extra?: DisconnectExtra): void {
    if (this.ended) return;
    this.ended = true;
    this.monitor.stop();
    this.errorBursts.flush();
    this.host.log.write({
      event: 'disconnect',
      message: 'Client disconnected',
      node: this.node,
      seq: this.lastSeq,
      reason,
      conn: this.conn,
      duplicates: this.duplicates > 0 ? this.duplicates : undefined,
      ahead: this.ahead > 0 ? this.ahead : undefined,
      ...extra,
    });
    this.socket.destroy();
    this.host.release(this);
  }

  private onFrame(value: Record<string, unknown>): void {
    if (this.ended) return;
    this.monitor.touch(this.now);
    if (this.pendingAuth !== undefined && !this.authenticate(value, this.pendingAuth)) return;
    if (this.boot !== undefined && value.type === 'skip') {
      this.onSkip(value);
      return;
    }
    const message = toMessage(value);
    if (message instanceof ProtocolError) {
      this.onProtocolError(message);
      return;
    }
    if (message.node !== undefined && message.node !== this.node) {
      if (this.namedNode) {
        this.onProtocolError(
          new ProtocolError(
            'PICLUSTER_ERR_NODE_MISMATCH',
            `frame names another node than its connection's, "${this.node}"`,
            excerptOf(message.node),
          ),
        );
        return;
      }
      this.namedNode = true;
      this.node = message.node;
      this.host.claim(this, message.node);
    }
    if (message.type === 'hello') {
      if (message.heartbeatIntervalMs !== undefined) this.applyAnnouncedInterval(message.heartbeatIntervalMs);
      if (message.acks === true && message.boot !== undefined) this.startAcking(message.boot);
    } else if (this.boot !== undefined && message.seq !== undefined && !this.admit(message.seq)) {
      return;
    }
    if (message.seq !== undefined) this.lastSeq = message.seq;
    this.logMessage(message);
  }

  /**
   * The gate of a master with a token: the first frame must be a hello whose
   * proof is of this connection's nonce and of the node and boot it names.
   * Anything else ends the connection before it is bound to a node, so a peer
   * without the token replaces no slave, touches no ledger and has no line
   * logged under a slave's id. A proof seen on another connection fails here:
   * its nonce was another.
   */
  private authenticate(value: Record<string, unknown>, auth: { token: string; nonce: string }): boolean {
    const message = toMessage(value);
    if (message instanceof ProtocolError) {
      const proofGiven = value.type === 'hello' && value.proof !== undefined;
      this.failAuth(proofGiven ? 'bad_proof' : 'auth_required', message.code);
      return false;
    }
    if (message.type !== 'hello' || message.proof === undefined || message.node === undefined) {
      this.failAuth('auth_required');
      return false;
    }
    if (message.boot === undefined || !verifyProof(auth.token, auth.nonce, message.node, message.boot, message.proof)) {
      this.failAuth('bad_proof');
      return false;
    }
    this.pendingAuth = undefined;
    return true;
  }

  private failAuth(code: AuthFailure, error?: string): void {
    this.end('auth_failed', { code, error });
  }

  /**
   * The timeout a hello's interval asks for, at most the master's limit; a
   * fixed timeout stays as it is. The detector learns the interval either way.
   */
  private applyAnnouncedInterval(intervalMs: number): void {
    const { heartbeatTimeoutMs, heartbeatTimeoutFactor, maxHeartbeatTimeoutMs } = this.host.options;
    if (heartbeatTimeoutMs !== undefined) {
      this.monitor.announced(intervalMs, heartbeatTimeoutMs);
      return;
    }
    const askedMs = heartbeatTimeoutFactor * intervalMs;
    if (askedMs > maxHeartbeatTimeoutMs) {
      this.host.log.write({
        event: 'limit',
        level: 'warn',
        message: `Heartbeat timeout of ${askedMs} ms clamped to ${maxHeartbeatTimeoutMs} ms`,
        limit: 'heartbeat_timeout',
        node: this.node,
        conn: this.conn,
        asked_ms: askedMs,
        applied_ms: maxHeartbeatTimeoutMs,
      });
    }
    this.monitor.announced(intervalMs, Math.min(askedMs, maxHeartbeatTimeoutMs));
  }

  private startAcking(boot: string): void {
    this.boot = boot;
    this.ackedSeq = -1;
    this.answerOwed = true;
    this.host.ledger.hello(this.node, boot);
    // Answered even with nothing logged yet: the peer learns that this master acks.
    this.requestAck();
  }

  /**
   * Whether a numbered message of an acking peer is logged: only the next
   * one. A resend of one logged before is counted; one beyond a missing seq
   * (bytes lost on the way, while the connection lived on) is dropped, and
   * the peer is asked, once per gap, to resend from the first missing one.
   */
  private admit(seq: number): boolean {
    const { ledger } = this.host;
    const verdict = ledger.record(this.node, seq);
    if (verdict === 'next') {
      this.requestAck();
      return true;
    }
    if (verdict === 'duplicate') {
      this.duplicates += 1;
      this.host.metrics?.resendDeduplicated();
      this.requestAck();
      return false;
    }
    this.ahead += 1;
    const missingAfter = ledger.lastSeq(this.node);
    if (this.resendAskedAt !== missingAfter) {
      this.resendAskedAt = missingAfter;
      // At once, not batched: every frame until the resend arrives is dropped too.
      this.host.log.whenWritten(() => this.sendAck(missingAfter, true));
    }
    return false;
  }

  /** The peer has none of the seqs up to `to` any more (its outbox was full): log those never logged as a gap. */
  private onSkip(value: Record<string, unknown>): void {
    const skip = toSkip(value);
    if (skip === undefined || skip.node !== this.node) {
      this.onProtocolError(
        new ProtocolError(
          'PICLUSTER_ERR_INVALID_FIELD',
          'a skip needs this node and "to", an integer ≥ 1',
          excerptOf(JSON.stringify(value)),
        ),
      );
      return;
    }
    const gap = this.host.ledger.skip(this.node, skip.to);
    if (gap !== undefined) {
      const { from, to } = gap;
      this.host.log.write({
        event: 'gap',
        level: 'warn',
        message: from === to ? `Message lost: seq ${from}` : `Messages lost: seq ${from}-${to}`,
        node: this.node,
        boot: this.boot,
        from,
        to,
        conn: this.conn,
      });
    }
    this.requestAck();
  }

  private requestAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    this.host.scheduleAck(this);
  }

  /** Whether the peer's hello asked for acks: its messages go through the ledger. */
  get acking(): boolean {
    return this.boot !== undefined;
  }

  /** The seq an ack sent now may carry: everything logged so far; `undefined` if nothing is due. */
  ackDue(): number | undefined {
    this.ackScheduled = false;
    if (this.ended || this.boot === undefined) return undefined;
    const seq = this.host.ledger.lastSeq(this.node);
    return seq === this.ackedSeq ? undefined : seq;
  }

  /**
   * Sends an ack for `seq` (from {@link ackDue}, once the lines up to it are
   * written); with `resend`, even if `seq` was acked before.
   */
  sendAck(seq: number, resend = false): void {
    if (this.answerOwed) {
      // Given, or given up on (a peer that reads nothing): from here its silence counts.
      this.answerOwed = false;
      this.monitor.restart(this.host.clock.now());
    }
    if (this.ended || this.socket.writableLength > MAX_UNREAD_ACK_BYTES) return;
    if (resend) {
      this.socket.write(encodeFrame({ type: 'ack', node: this.node, seq, resend: true }));
    } else if (seq > this.ackedSeq) {
      this.socket.write(encodeFrame({ type: 'ack', node: this.node, seq }));
    } else {
      return;
    }
    this.ackedSeq = Math.max(this.ackedSeq, seq);
    this.host.metrics?.ackSent();
  }

  private logMessage(message: Message): void {
    const hello = message.type === 'hello' ? message : undefined;
    this.linesThisRead += 1;
    this.host.log.write({
      event: 'message',
      message: 'Received message: ' + message.msg,
      node: this.node,
      seq: message.seq,
      type: wireTypeOf(message),
      conn: this.conn,
      acks: hello?.acks,
      boot: hello?.boot,
    });
  }

  private onProtocolError(error: ProtocolError): void {
    if (this.ended) return;
    if (this.pendingAuth !== undefined) {
      this.failAuth('auth_required', error.code);
      return;
    }
    this.protocolErrors += 1;
    this.errorBursts.add(error.code, error);
    if (this.protocolErrors >= this.host.options.maxProtocolErrors) {
      this.end('protocol_error', { errors: this.protocolErrors });
    }
  }

  /** One line per burst of protocol errors: the first at once, the rest counted by code. */
  private logProtocolErrors({ count, codes, last }: Burst<ProtocolError>): void {
    this.linesThisRead += 1;
    this.host.log.write({
      event: 'protocol_error',
      level: 'warn',
      message: count === 1 ? last.message : `${count} protocol errors, the last: ${last.message}`,
      code: last.code,
      excerpt: last.excerpt,
      node: this.node,
      conn: this.conn,
      repeated: count === 1 ? undefined : count,
      codes: count === 1 ? undefined : codes,
    });
  }
}
