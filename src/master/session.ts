import type { Socket } from 'node:net';
import { ProtocolError, type Clock, type Log } from '../common';
import { FrameDecoder, excerptOf, toMessage, wireTypeOf, type Message } from '../protocol';
import { HeartbeatMonitor } from './heartbeat-monitor';
import type { MasterOptions } from './options';

/** Why a connection ended; one `disconnect` line carries exactly one. */
export type DisconnectReason = 'closed' | 'reset' | 'timeout' | 'protocol_error' | 'replaced' | 'shutdown';

/** What a session needs from the master that owns it. */
export interface SessionHost {
  readonly options: MasterOptions;
  readonly clock: Clock;
  readonly log: Log;
  /** The session now speaks for `node`; the host ends any other session of that node. */
  claim(session: Session, node: string): void;
  /** The session has ended and logged its disconnect. */
  release(session: Session): void;
}

/** One slave connection: its decoder, its node id, its heartbeat monitor. */
export class Session {
  /** The node id: from the first frame that names one, else the peer's address. */
  node: string;
  private namedNode = false;
  private lastSeq: number | undefined;
  private protocolErrors = 0;
  private ended = false;
  private peerReason: DisconnectReason = 'closed';
  private readonly decoder: FrameDecoder;
  private readonly monitor: HeartbeatMonitor;
  private now = 0;

  constructor(
    private readonly host: SessionHost,
    private readonly socket: Socket,
    readonly conn: number,
  ) {
    // An IPv4 peer of a dual-stack listener shows up as ::ffff:a.b.c.d; people expect a.b.c.d.
    const address = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
    const remote = `${address}:${socket.remotePort ?? 0}`;
    this.node = remote;
    const { options, clock, log } = host;
    this.decoder = new FrameDecoder(
      { frame: (value) => this.onFrame(value), error: (error) => this.onProtocolError(error) },
      { maxFrameBytes: options.maxFrameBytes },
    );
    this.monitor = new HeartbeatMonitor(
      clock,
      options.heartbeatTimeoutMs ?? options.heartbeatTimeoutFactor * options.defaultHeartbeatIntervalMs,
      (silentMs) => this.end('timeout', { silent_ms: silentMs }),
    );
    log.write({ event: 'connect', message: 'Client connected', conn, remote, node: remote });

    socket.on('data', (chunk: Buffer) => {
      this.now = clock.now();
      this.decoder.push(chunk);
    });
    socket.on('end', () => {
      // A peer that half-closes right after its last frame, without a separator, still gets it logged.
      this.decoder.end();
      this.peerReason = 'closed';
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.peerReason = err.code === 'ETIMEDOUT' ? 'timeout' : 'reset';
    });
    socket.on('close', () => this.end(this.peerReason));
  }

  /** Ends the session: logs its one `disconnect` line and closes the socket. Idempotent. */
  end(reason: DisconnectReason, extra?: Record<string, unknown>): void {
    if (this.ended) return;
    this.ended = true;
    this.monitor.stop();
    this.host.log.write({
      event: 'disconnect',
      message: 'Client disconnected',
      node: this.node,
      seq: this.lastSeq,
      reason,
      conn: this.conn,
      ...extra,
    });
    this.socket.destroy();
    this.host.release(this);
  }

  private onFrame(value: Record<string, unknown>): void {
    if (this.ended) return;
    this.monitor.touch(this.now);
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
    if (message.seq !== undefined) this.lastSeq = message.seq;
    if (message.type === 'hello' && message.heartbeatIntervalMs !== undefined) {
      const { heartbeatTimeoutMs, heartbeatTimeoutFactor } = this.host.options;
      this.monitor.setTimeoutMs(heartbeatTimeoutMs ?? heartbeatTimeoutFactor * message.heartbeatIntervalMs);
    }
    this.logMessage(message);
  }

  private logMessage(message: Message): void {
    this.host.log.write({
      event: 'message',
      message: 'Received message: ' + message.msg,
      node: this.node,
      seq: message.seq,
      type: wireTypeOf(message),
      conn: this.conn,
    });
  }

  private onProtocolError(error: ProtocolError): void {
    if (this.ended) return;
    this.protocolErrors += 1;
    this.host.log.write({
      event: 'protocol_error',
      level: 'warn',
      message: error.message,
      code: error.code,
      excerpt: error.excerpt,
      node: this.node,
      conn: this.conn,
    });
    if (this.protocolErrors >= this.host.options.maxProtocolErrors) {
      this.end('protocol_error', { errors: this.protocolErrors });
    }
  }
}
