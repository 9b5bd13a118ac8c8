import { shapesOf, type LinkFault } from '../link-fault';
import { ShapedPipe } from './link-shaper';
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
  /** Draws in [0, 1) for the jitter and loss of a degradation, so that they can be seeded. Default `Math.random`. */
  random?: () => number;
}

/** One slave connection through the proxy. */
interface Link {
  readonly downstream: Socket;
  upstream: Socket | undefined;
  /** Slave to master; set with the upstream. */
  toMaster: ShapedPipe | undefined;
  /** Master to slave; set with the upstream. */
  fromMaster: ShapedPipe | undefined;
  /** Accepted while cut: never connected upstream; reset at heal. */
  held: boolean;
  /** The master closed (or failed) the upstream while cut, or failed it while its direction was dropped; reset at heal. */
  upstreamGone: boolean;
  /** The slave sent FIN (or closed) while cut or while its direction was dropped; passed on at heal, as a retransmitted FIN would be. */
  downstreamEnded: boolean;
  /** The slave's socket failed while cut or while its direction was dropped; passed on at heal as a reset. */
  downstreamFailed: boolean;
}

/**
 * A TCP proxy between one slave and the master that can cut the network the
 * way a dropped link does: while cut, bytes both ways are silently dropped and
 * neither side sees a FIN or a RST; new connections are accepted and held
 * without an upstream. It can also degrade each direction of the link
 * ({@link FaultProxy.degrade}: delay, jitter, loss, bandwidth, slicing, a
 * one-way partition; the model is in `link-shaper.ts`) and reset every
 * connection. `heal()` ends the cut and the degradation: it resumes
 * forwarding on the connections that survived, and resets the others so the
 * slave reconnects.
 */
export class FaultProxy {
  private readonly server: Server;
  private readonly links = new Set<Link>();
  /** Every socket open through the proxy, also of links already gone whose last bytes are draining. */
  private readonly sockets = new Set<Socket>();
  private readonly pipes = new Set<ShapedPipe>();
  private cutNow = false;
  private fault: LinkFault | undefined;
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

  /** The degradation in effect, if any. */
  get degradation(): LinkFault | undefined {
    return this.fault;
  }

  /** Connections currently open through the proxy (held ones included). */
  get connectionCount(): number {
    return this.links.size;
  }

  /** From now on, drop all traffic silently, both ways, and hold new connections. Idempotent. */
  cut(): void {
    this.cutNow = true;
    // A source paused for back-pressure flows again (the pipe resumes it): its bytes are dropped, not kept.
    for (const link of this.links) {
      link.toMaster?.setCut(true);
      link.fromMaster?.setCut(true);
    }
  }

  /**
   * From now on, shape the traffic of each direction `fault` names, on the
   * connections open now and on new ones; the other direction passes
   * untouched. Replaces an earlier degradation: bytes already queued keep
   * their release times. Idempotent.
   */
  degrade(fault: LinkFault): void {
    this.fault = fault;
    for (const link of this.links) this.shapeLink(link);
  }

  /**
   * Ends the cut and the degradation. Queued bytes keep their release times;
   * a FIN held by a dropped direction or the cut is passed on. Connections
   * whose upstream closed during the cut (or failed while its direction was
   * dropped), and those accepted during the cut, are reset so the slave
   * reconnects. Idempotent.
   */
  heal(): void {
    this.cutNow = false;
    this.fault = undefined;
    for (const link of [...this.links]) {
      if (link.held || link.upstreamGone) {
        this.resetLink(link);
        continue;
      }
      this.shapeLink(link);
      link.toMaster?.setCut(false);
      link.fromMaster?.setCut(false);
      const upstream = link.upstream;
      if (upstream === undefined || upstream.destroyed) continue;
      if (link.downstreamFailed) upstream.resetAndDestroy();
      else if (link.downstreamEnded) link.toMaster?.end();
    }
  }

  /**
   * Resets every connection open through the proxy now, held ones included:
   * both ends see ECONNRESET. New connections are not affected.
   */
  reset(): void {
    for (const link of [...this.links]) this.resetLink(link);
  }

  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const pipe of this.pipes) pipe.dispose();
      this.pipes.clear();
      for (const socket of this.sockets) socket.destroy();
      this.sockets.clear();
      this.links.clear();
    });
    return this.closing;
  }

  private shapeLink(link: Link): void {
    const shapes = this.fault === undefined ? {} : shapesOf(this.fault);
    link.toMaster?.setShape(shapes.toMaster);
    link.fromMaster?.setShape(shapes.fromMaster);
  }

  /** Resets both ends of `link` at once, discarding what its pipes hold. */
  private resetLink(link: Link): void {
    this.links.delete(link);
    link.toMaster?.dispose();
    link.fromMaster?.dispose();
    if (!link.downstream.destroyed) link.downstream.resetAndDestroy();
    if (link.upstream !== undefined && !link.upstream.destroyed) link.upstream.resetAndDestroy();
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private accept(downstream: Socket): void {
    if (this.closing !== undefined) {
      downstream.destroy();
      return;
    }
    downstream.setNoDelay(true);
    this.track(downstream);
    const link: Link = {
      downstream,
      upstream: undefined,
      toMaster: undefined,
      fromMaster: undefined,
      held: this.cutNow,
      upstreamGone: false,
      downstreamEnded: false,
      downstreamFailed: false,
    };
    this.links.add(link);
    let failed = false;
    downstream.on('error', () => (failed = true));
    downstream.on('data', (chunk: Buffer) => link.toMaster?.push(chunk));
    downstream.on('end', () => {
      if (this.cutNow) link.downstreamEnded = true;
      else link.toMaster?.end();
    });
    downstream.on('close', () => {
      if (!this.links.has(link)) return;
      if ((this.cutNow || link.toMaster?.dropping === true) && !link.held) {
        link.downstreamFailed ||= failed;
        link.downstreamEnded = true;
        // Kept until heal, which passes the close on to the master.
        return;
      }
      this.links.delete(link);
      link.fromMaster?.dispose();
      const upstream = link.upstream;
      if (upstream === undefined || upstream.destroyed) return;
      if (failed) {
        link.toMaster?.dispose();
        upstream.resetAndDestroy();
      } else {
        // After what is queued towards the master.
        link.toMaster?.end();
      }
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
    this.track(upstream);
    link.upstream = upstream;
    const random = this.options.random ?? Math.random;
    const toMaster = new ShapedPipe(downstream, upstream, { random });
    const fromMaster = new ShapedPipe(upstream, downstream, { random });
    link.toMaster = toMaster;
    link.fromMaster = fromMaster;
    this.pipes.add(toMaster).add(fromMaster);
    this.shapeLink(link);
    let failed = false;
    upstream.on('error', () => (failed = true));
    upstream.on('data', (chunk: Buffer) => fromMaster.push(chunk));
    upstream.on('end', () => {
      // A FIN from the master during a cut never reaches the slave.
      if (this.cutNow) link.upstreamGone = true;
      else fromMaster.end();
    });
    upstream.on('close', () => {
      this.pipes.delete(toMaster);
      this.pipes.delete(fromMaster);
      if (!this.links.has(link)) return;
      if (this.cutNow) {
        link.upstreamGone = true;
      } else if (downstream.destroyed) {
        this.links.delete(link);
      } else if (!failed) {
        // After what is queued towards the slave; held while that direction is dropped.
        fromMaster.end();
      } else if (fromMaster.dropping) {
        link.upstreamGone = true;
      } else {
        // A refused connect (master restarting) or a reset: the slave must see a failure and retry.
        fromMaster.dispose();
        downstream.resetAndDestroy();
      }
    });
  }
}
