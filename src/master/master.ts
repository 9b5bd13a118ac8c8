import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { systemClock, type Clock, type Log } from '../common';
import { resolveMasterOptions, type MasterOptions } from './options';
import { Session, type SessionHost } from './session';

/**
 * The master: accepts slaves over TCP and logs every message and every
 * disconnect. `start()` resolves once it listens; `stop()` ends every session
 * with reason `shutdown` and logs a final `shutdown` line.
 */
export class Master implements SessionHost {
  readonly options: MasterOptions;
  private readonly server: Server;
  private healthServer: Server | undefined;
  private readonly sessions = new Set<Session>();
  private readonly byNode = new Map<string, Session>();
  private nextConn = 1;
  private stopping: Promise<void> | undefined;

  constructor(
    options: Partial<MasterOptions>,
    readonly log: Log,
    readonly clock: Clock = systemClock,
  ) {
    this.options = resolveMasterOptions(options);
    this.server = createServer((socket) => this.accept(socket));
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

  async start(): Promise<this> {
    // A deep accept queue, so a whole cluster reconnecting at once (a master restart) is not
    // throttled by SYN-ACK retransmissions; the kernel caps it at net.core.somaxconn.
    await listen(this.server, { port: this.options.port, host: this.options.host, backlog: 4096 });
    if (this.options.healthPort !== undefined) {
      this.healthServer = createServer((socket) => socket.on('error', () => undefined).end());
      try {
        await listen(this.healthServer, { port: this.options.healthPort, host: '127.0.0.1' });
      } catch (err) {
        this.server.close();
        throw err;
      }
    }
    // After start-up, an accept failure (e.g. out of file descriptors) must not take the master down.
    this.server.on('error', (err: NodeJS.ErrnoException) =>
      this.log.write({ event: 'server_error', level: 'error', message: err.message, code: err.code }),
    );
    const address = this.server.address() as AddressInfo;
    this.log.write({
      event: 'listening',
      message: `Listening on port ${address.port}`,
      port: address.port,
      host: address.address,
      health_port: this.healthPort,
    });
    return this;
  }

  /** Stops accepting, ends every session (`shutdown`), logs `shutdown`. Idempotent. */
  stop(signal?: string): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.healthServer?.close();
      this.server.close(() => resolve());
      const open = this.sessions.size;
      for (const session of [...this.sessions]) session.end('shutdown');
      this.log.write({ event: 'shutdown', message: 'Master stopped', connections: open, signal });
    });
    return this.stopping;
  }

  claim(session: Session, node: string): void {
    const previous = this.byNode.get(node);
    this.byNode.set(node, session);
    previous?.end('replaced', { replaced_by: session.conn });
  }

  release(session: Session): void {
    this.sessions.delete(session);
    if (this.byNode.get(session.node) === session) this.byNode.delete(session.node);
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
