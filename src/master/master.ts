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

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      // A deep accept queue, so a whole cluster reconnecting at once (a master restart) is not
      // throttled by SYN-ACK retransmissions; the kernel caps it at net.core.somaxconn.
      this.server.listen({ port: this.options.port, host: this.options.host, backlog: 4096 }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
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
    });
    return this;
  }

  /** Stops accepting, ends every session (`shutdown`), logs `shutdown`. Idempotent. */
  stop(signal?: string): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
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
