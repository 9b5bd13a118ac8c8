import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** Options of a {@link FaultProxy}. */
export interface FaultProxyOptions {
  /**
   * The master's current port, read for every new upstream connection, so a
   * master restarted on another port is still found.
   */
  upstreamPort: () => number;
  /** The master's address. Default `127.0.0.1`. */
  upstreamHost?: string;
  /** Address the proxy listens on. Default `127.0.0.1` (loopback only). */
  host?: string;
  /** Port the proxy listens on. Default 0 (a free one; see {@link FaultProxy.port}). */
  port?: number;
}

/** One slave connection through the proxy. */
interface Link {
  readonly downstream: Socket;
  upstream: Socket | undefined;
  /** Accepted while cut: never connected upstream; reset at heal. */
  held: boolean;
  /** The master closed (or failed) the upstream while cut; reset at heal. */
  upstreamGone: boolean;
  /** The slave sent FIN while cut; passed on at heal, as a retransmitted FIN would be. */
  downstreamEnded: boolean;
  /** The slave's socket failed while cut; passed on at heal as a reset. */
  downstreamFailed: boolean;
}

/**
 * A TCP proxy between one slave and the master that can cut the network the
 * way a dropped link does: while cut, bytes both ways are silently dropped and
 * neither side sees a FIN or a RST; new connections are accepted and held
 * without an upstream. `heal()` resumes forwarding on the connections that
 * survived, and resets the others so the slave reconnects.
 */
export class FaultProxy {
  private readonly server: Server;
  private readonly links = new Set<Link>();
  private cutNow = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: FaultProxyOptions) {
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  /** Starts listening; resolves once it does. */
  async listen(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: this.options.port ?? 0, host: this.options.host ?? '127.0.0.1' }, () => {
        this.server.off('error', reject);
        // An accept failure (out of file descriptors) must not crash the runner; that slave just retries.
        this.server.on('error', () => undefined);
        resolve();
      });
    });
    return this;
  }

  /** The port the proxy listens on. */
  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? 0;
  }

  get isCut(): boolean {
    return this.cutNow;
  }

  /** Connections currently open through the proxy (held ones included). */
  get connectionCount(): number {
    return this.links.size;
  }

  /** From now on, drop all traffic silently, both ways, and hold new connections. Idempotent. */
  cut(): void {
    this.cutNow = true;
    // A source paused for back-pressure must flow again, or its bytes would wait instead of being dropped.
    for (const link of this.links) {
      link.downstream.resume();
      link.upstream?.resume();
    }
  }

  /**
   * Resumes forwarding. Connections whose upstream closed during the cut, and
   * those accepted during it, are reset so the slave reconnects. Idempotent.
   */
  heal(): void {
    if (!this.cutNow) return;
    this.cutNow = false;
    for (const link of [...this.links]) {
      if (link.held || link.upstreamGone) {
        if (!link.downstream.destroyed) link.downstream.resetAndDestroy();
        link.upstream?.destroy();
        this.links.delete(link);
        continue;
      }
      const upstream = link.upstream;
      if (upstream === undefined || upstream.destroyed) continue;
      if (link.downstreamFailed) upstream.resetAndDestroy();
      else if (link.downstreamEnded && !upstream.writableEnded) upstream.end();
    }
  }

  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const link of this.links) {
        link.downstream.destroy();
        link.upstream?.destroy();
      }
      this.links.clear();
    });
    return this.closing;
  }

  private accept(downstream: Socket): void {
    if (this.closing !== undefined) {
      downstream.destroy();
      return;
    }
    downstream.setNoDelay(true);
    const link: Link = {
      downstream,
      upstream: undefined,
      held: this.cutNow,
      upstreamGone: false,
      downstreamEnded: false,
      downstreamFailed: false,
    };
    this.links.add(link);
    let failed = false;
    downstream.on('error', () => (failed = true));
    downstream.on('data', (chunk: Buffer) => {
      if (!this.cutNow && link.upstream !== undefined) forward(chunk, downstream, link.upstream);
    });
    downstream.on('end', () => {
      if (this.cutNow) link.downstreamEnded = true;
      else link.upstream?.end();
    });
    downstream.on('close', () => {
      if (this.cutNow && !link.held) {
        link.downstreamFailed ||= failed;
        link.downstreamEnded = true;
        // Kept until heal, which passes the close on to the master.
        return;
      }
      this.links.delete(link);
      const upstream = link.upstream;
      if (upstream === undefined || upstream.destroyed) return;
      if (failed) upstream.resetAndDestroy();
      else if (!upstream.writableEnded) upstream.end();
    });
    if (!link.held) this.openUpstream(link);
  }

  private openUpstream(link: Link): void {
    const { downstream } = link;
    const upstream = connect({
      host: this.options.upstreamHost ?? '127.0.0.1',
      port: this.options.upstreamPort(),
      allowHalfOpen: true,
      noDelay: true,
    });
    link.upstream = upstream;
    let failed = false;
    upstream.on('error', () => (failed = true));
    upstream.on('data', (chunk: Buffer) => {
      if (!this.cutNow && !downstream.destroyed) forward(chunk, upstream, downstream);
    });
    upstream.on('end', () => {
      // A FIN from the master during a cut never reaches the slave.
      if (this.cutNow) link.upstreamGone = true;
      else downstream.end();
    });
    upstream.on('close', () => {
      if (this.cutNow) {
        link.upstreamGone = true;
        return;
      }
      if (downstream.destroyed) {
        this.links.delete(link);
      } else if (failed) {
        // A refused connect (master restarting) or a reset: the slave must see a failure and retry.
        downstream.resetAndDestroy();
      } else if (!downstream.writableEnded) {
        downstream.end();
      }
    });
  }
}

/** Writes `chunk` on, pausing the source while the destination's buffer is full. */
function forward(chunk: Buffer, source: Socket, destination: Socket): void {
  if (destination.destroyed || destination.writableEnded) return;
  if (!destination.write(chunk)) {
    source.pause();
    void once(destination, 'drain').then(
      () => source.resume(),
      () => source.resume(),
    );
  }
}
