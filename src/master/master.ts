import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { systemClock, type Clock, type Log } from '../common';
import type { MasterLogWrite } from '../protocol';
import { acceptBacklog, connectionLimit, openFilesLimit } from './descriptor-limit';
import { BurstCounter } from './burst-counter';
import { detectorFields } from './failure-detector';
import { HandshakeFailures } from './handshake-failures';
import { checkpointFileOf, type OpenConn } from './checkpoint';
import { Checkpointer } from './checkpointer';
import { SeqLedger } from './ledger';
import { recoverLedger, type Recovery } from './ledger-recovery';
import { MasterMetrics, MetricsServer, observedLog } from './metrics';
import { resolveMasterOptions, type MasterOptions } from './options';
import { Session, type SessionHost } from './session';

/** How long `stop()` waits for the log to take its lines, to send the last acks before closing, in ms. */
const LAST_ACKS_GRACE_MS = 1000;

/** Refused connections and evicted ledger entries are counted in one `limit` line per this many ms, not one line each. */
const LIMIT_WINDOW_MS = 1000;

/**
 * The master: accepts slaves over TCP (or TLS) and logs every message and every
 * disconnect. `start()` resolves once it listens; `stop()` ends every session
 * with reason `shutdown` and logs a final `shutdown` line.
 */
export class Master implements SessionHost {
  readonly options: MasterOptions;
  private readonly server: Server;
  private healthServer: Server | undefined;
  private readonly sessions = new Set<Session>();
  private readonly byNode = new Map<string, Session>();
  readonly ledger: SeqLedger;
  private readonly acksDue = new Set<Session>();
  private nextConn = 1;
  private starting: Promise<this> | undefined;
  private stopping: Promise<void> | undefined;
  /** Refused connections, counted into one `limit` line a window. */
  private readonly refusals: BurstCounter<undefined>;
  private readonly handshakeFailures: HandshakeFailures;
  /** With TLS, every TCP connection, its handshake done or not: one still in it is no session yet. */
  private readonly tcpSockets = new Set<Socket>();
  /** Ledger entries evicted, counted into one `limit` line a window. */
  private readonly evictions: BurstCounter<undefined>;
  private checkpointer: Checkpointer | undefined;
  readonly log: Log<MasterLogWrite>;
  /** With a `metricsPort`: the metrics, derived from every line logged, and their HTTP server. */
  readonly metrics: MasterMetrics | undefined;
  private readonly metricsServer: MetricsServer | undefined;

  constructor(
    options: Partial<MasterOptions>,
    log: Log<MasterLogWrite>,
    readonly clock: Clock = systemClock,
  ) {
    this.options = resolveMasterOptions(options);
    this.metrics = this.options.metricsPort === undefined ? undefined : new MasterMetrics(clock);
    this.log = this.metrics === undefined ? log : observedLog(log, this.metrics);
    this.metricsServer = this.metrics && new MetricsServer(this.metrics, (err) => this.serverError(err));
    this.handshakeFailures = new HandshakeFailures(this.log, clock);
    this.server = this.createServer();
    this.refusals = new BurstCounter(clock, LIMIT_WINDOW_MS, ({ count }) => this.logRefused(count), false);
    this.server.on('drop', () => this.refusals.add('refused', undefined));
    this.evictions = new BurstCounter(clock, LIMIT_WINDOW_MS, ({ count }) => this.logEvicted(count), false);
    this.ledger = new SeqLedger(this.options.maxLedgerNodes, () => this.evictions.add('evicted', undefined));
  }

  /** The port actually listened on (useful with port 0). */
  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? this.options.port;
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** The health port actually listened on, if any. */
  get healthPort(): number | undefined {
    return (this.healthServer?.address() as AddressInfo | null | undefined)?.port;
  }

  /** The metrics port actually listened on, if any. */
  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  /** Reads the log file back (if any), then listens. A `stop()` meanwhile takes effect once it listens. */
  start(): Promise<this> {
    this.starting ??= this.startUp();
    return this.starting;
  }

  private async startUp(): Promise<this> {
    if (this.options.recoverFrom !== undefined) await this.recover(this.options.recoverFrom);
    this.limitConnections();
    // A deep accept queue, so a whole cluster reconnecting at once (a master restart) is not
    // throttled by SYN-ACK retransmissions; the kernel caps it at net.core.somaxconn.
    await listen(this.server, {
      port: this.options.port,
      host: this.options.host,
      backlog: acceptBacklog(this.options.maxConnections),
    });
    if (this.options.healthPort !== undefined) {
      this.healthServer = createServer((socket) => socket.on('error', () => undefined).end());
      try {
        await listen(this.healthServer, { port: this.options.healthPort, host: '127.0.0.1' });
      } catch (err) {
        this.server.close();
        throw err;
      }
    }
    if (this.metricsServer !== undefined && this.options.metricsPort !== undefined) {
      await this.metricsServer.listen(this.options.metricsPort, this.options.host).catch((err: unknown) => {
        this.server.close();
        this.healthServer?.close();
        throw err;
      });
    }
    // After start-up, an accept failure (e.g. out of file descriptors) must not take the master down.
    this.server.on('error', (err: NodeJS.ErrnoException) => this.serverError(err));
    const address = this.server.address() as AddressInfo;
    this.log.write({
      event: 'listening',
      message: `Listening on port ${address.port}`,
      port: address.port,
      host: address.address,
      health_port: this.healthPort,
      metrics_port: this.metricsPort,
      // Whether slaves must prove the token; never the token itself.
      auth: this.options.token !== undefined ? 'token' : undefined,
      tls: this.options.tls !== undefined ? true : undefined,
      ...detectorFields(this.options),
    });
    const { recoverFrom } = this.options;
    // Once `listening` is in the file: a checkpoint's offset must not come before its run's first line, or a
    // recovery would take the connection ids of the run before for this run's (they restart at 1).
    if (recoverFrom !== undefined) {
      const checkpointer = this.checkpointsOf(recoverFrom);
      this.checkpointer = checkpointer;
      // Not before the logger's own flush of `listening`: asking now would flush it out of its batch.
      this.clock.afterPendingIo(() =>
        this.log.whenWritten(() => {
          if (this.stopping === undefined) checkpointer.start();
        }),
      );
    }
    return this;
  }

  private serverError(err: NodeJS.ErrnoException): void {
    this.log.write({ event: 'server_error', level: 'error', message: err.message, code: err.code });
  }

  /**
   * A plain TCP server, or a TLS one whose sessions start once the handshake
   * is done: a failed handshake is a `tls_error` line, never a session.
   */
  private createServer(): Server {
    const { tls } = this.options;
    if (tls === undefined) return createServer((socket) => this.accept(socket));
    const mutual = tls.clientCa !== undefined;
    const server = createTlsServer(
      {
        cert: tls.cert,
        key: tls.key,
        ca: tls.clientCa,
        requestCert: mutual,
        // Checked below instead: Node would close a peer with a certificate of another CA
        // unlogged, and by the time it says so (a `tlsClientError`) its address is gone.
        rejectUnauthorized: false,
        // Node's default is 2 minutes: a peer that has not finished its handshake by the time a
        // connected one may stay silent is closed like one, not left holding a descriptor.
        handshakeTimeout:
          this.options.heartbeatTimeoutMs ??
          this.options.heartbeatTimeoutFactor * this.options.defaultHeartbeatIntervalMs,
      },
      (socket) => {
        if (mutual && !socket.authorized) {
          this.handshakeFailures.refuseCertificate(socket);
          socket.destroy();
        } else {
          this.accept(socket);
        }
      },
    );
    server.on('connection', (socket: Socket) => {
      this.tcpSockets.add(socket);
      socket.once('close', () => this.tcpSockets.delete(socket));
    });
    server.on('tlsClientError', (error, socket) => {
      // Handshakes that stop() cut short are ours, not the peers' failures.
      if (this.stopping === undefined) this.handshakeFailures.record(error, socket);
      // Node closes the socket after most failures, but not after a handshake timeout.
      socket.destroy();
    });
    return server;
  }

  /**
   * Stops accepting, acks what is logged, ends every session (`shutdown`),
   * logs `shutdown`. Idempotent.
   */
  stop(signal?: string): Promise<void> {
    // A stop during start-up waits for it: closing a server that does not listen yet would not stop it listening.
    const started = this.starting?.then(
      () => undefined,
      () => undefined,
    );
    this.stopping ??= Promise.resolve(started).then(() => this.stopNow(signal));
    return this.stopping;
  }

  private stopNow(signal?: string): Promise<void> {
    return new Promise<void>((resolve) => {
      this.healthServer?.close();
      const metricsClosed = this.metricsServer?.close();
      const closed = new Promise<void>((done) => this.server.close(() => done()));
      let ended = false;
      const endSessions = (): void => {
        if (ended) return;
        ended = true;
        this.clock.clearTimeout(grace);
        const open = this.sessions.size;
        for (const session of [...this.sessions]) session.end('shutdown');
        // The server closes once every connection has; one still in its handshake would hold it.
        for (const socket of this.tcpSockets) socket.destroy();
        this.handshakeFailures.stop();
        this.refusals.flush();
        this.evictions.flush();
        this.log.write({ event: 'shutdown', message: 'Master stopped', connections: open, signal });
        void Promise.all([closed, metricsClosed, this.lastCheckpoint()]).then(() => resolve());
      };
      // The last acks go out before the FINs, so the slaves resend as little as possible to the
      // next master; a log destination that no longer takes writes must not keep them open.
      this.sendAcks();
      const grace = this.clock.setTimeout(endSessions, LAST_ACKS_GRACE_MS);
      this.log.whenWritten(endSessions);
    });
  }

  scheduleAck(session: Session): void {
    if (this.acksDue.size === 0) setImmediate(() => this.sendAcks());
    this.acksDue.add(session);
  }

  /**
   * One ack per session that has something to ack, sent once the lines it
   * covers are written: acks are batched per turn of the event loop, and an
   * acked message is one the log has, whatever happens to this process next.
   */
  private sendAcks(): void {
    const due: Array<[Session, number]> = [];
    for (const session of this.acksDue) {
      const seq = session.ackDue();
      if (seq !== undefined) due.push([session, seq]);
    }
    this.acksDue.clear();
    if (due.length === 0) return;
    this.log.whenWritten(() => {
      for (const [session, seq] of due) session.sendAck(seq);
    });
  }

  private async recover(file: string): Promise<void> {
    const started = this.clock.now();
    let recovery: Recovery;
    try {
      recovery = await recoverLedger(this.ledger, file);
    } catch (err) {
      const error = err as NodeJS.ErrnoException;
      if (error.code === 'ENOENT') return;
      throw err;
    }
    if (recovery.lines === 0 && !recovery.checkpoint && recovery.checkpointIgnored === undefined) return;
    this.log.write({
      event: 'recovered',
      level: recovery.checkpointIgnored === undefined ? 'info' : 'warn',
      message: `Recovered the last seq of ${recovery.nodes} nodes from ${file}`,
      file,
      nodes: recovery.nodes,
      lines: recovery.lines,
      unreadable: recovery.unreadable,
      checkpoint: recovery.checkpoint,
      checkpoint_ignored: recovery.checkpointIgnored,
      offset: recovery.offset,
      ms: this.clock.now() - started,
    });
  }

  /** A checkpoint of the ledger kept beside the log, so that the next start reads only the log's tail. */
  private checkpointsOf(file: string): Checkpointer {
    const { checkpointIntervalMs: intervalMs, checkpointBytes: bytes } = this.options;
    return new Checkpointer(
      file,
      this.clock,
      { intervalMs, bytes },
      () => ({ entries: this.ledger.entries(), conns: this.openAckingConns() }),
      (err) =>
        this.log.write({
          event: 'checkpoint_failed',
          level: 'warn',
          message: `Cannot write the ledger checkpoint ${checkpointFileOf(file)}: ${err.message}`,
          file: checkpointFileOf(file),
          code: err.code,
        }),
    );
  }

  /** The connections whose later lines a recovery from a checkpoint taken now must still count. */
  private openAckingConns(): OpenConn[] {
    const conns: OpenConn[] = [];
    for (const [node, session] of this.byNode) {
      const boot = this.ledger.bootOf(node);
      if (session.acking && boot !== undefined) conns.push([session.conn, node, boot]);
    }
    return conns;
  }

  /**
   * At stop: a checkpoint that covers every line, once the log has them, so
   * the next start reads none; after at most the grace of the last acks, as
   * a destination that takes no more writes must not keep the master running.
   */
  private lastCheckpoint(): Promise<void> {
    const checkpointer = this.checkpointer;
    if (checkpointer === undefined) return Promise.resolve();
    return new Promise<void>((written) => {
      const grace = this.clock.setTimeout(written, LAST_ACKS_GRACE_MS);
      this.log.whenWritten(() => {
        this.clock.clearTimeout(grace);
        written();
      });
    }).then(() => checkpointer.stop());
  }

  /** Takes only as many connections as there are descriptors for, so none is refused unlogged. */
  private limitConnections(): void {
    const { maxConnections } = this.options;
    const openFiles = openFilesLimit();
    const limit = connectionLimit(maxConnections, openFiles);
    this.server.maxConnections = limit;
    if (limit < maxConnections) {
      this.log.write({
        event: 'limit',
        level: 'warn',
        message: `At most ${limit} connections: the descriptor limit is ${openFiles} (raise it with ulimit -n)`,
        limit: 'descriptors',
        max_connections: maxConnections,
        applied: limit,
        open_files: openFiles,
      });
    }
  }

  private logRefused(refused: number): void {
    this.log.write({
      event: 'limit',
      level: 'warn',
      message: `Refused ${refused} connection${refused === 1 ? '' : 's'}: ${this.sessions.size} open, at most ${this.server.maxConnections}`,
      limit: 'connections',
      refused,
      open: this.sessions.size,
      applied: this.server.maxConnections,
    });
  }

  private logEvicted(evicted: number): void {
    this.log.write({
      event: 'limit',
      level: 'warn',
      message: `Forgot the last seq of ${evicted} idle node${evicted === 1 ? '' : 's'}: ${this.ledger.size} remembered, at most ${this.options.maxLedgerNodes}`,
      limit: 'ledger',
      evicted,
      nodes: this.ledger.size,
      applied: this.options.maxLedgerNodes,
    });
  }

  claim(session: Session, node: string): void {
    const previous = this.byNode.get(node);
    this.byNode.set(node, session);
    this.ledger.opened(node);
    previous?.end('replaced', { replaced_by: session.conn });
  }

  release(session: Session): void {
    this.sessions.delete(session);
    if (this.byNode.get(session.node) === session) {
      this.byNode.delete(session.node);
      this.ledger.closed(session.node);
    }
  }

  private accept(socket: Socket): void {
    if (this.stopping !== undefined) {
      socket.destroy();
      return;
    }
    this.sessions.add(new Session(this, socket, this.nextConn++));
  }
}

function listen(server: Server, options: { port: number; host?: string; backlog?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
