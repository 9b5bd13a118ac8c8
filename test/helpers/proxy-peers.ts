import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { FaultProxy, type FaultProxyOptions } from '../../src/orchestrator/local/fault-proxy';
import { waitUntil } from './wait';

/** A socket's received text, when each piece came, and how it ended, as they happen. */
export interface Peer {
  socket: Socket;
  received: string;
  /** Each 'data' event: its text and `Date.now()` then. */
  chunks: Array<{ text: string; at: number }>;
  ended: boolean;
  closed: boolean;
  error: string | undefined;
}

export function watch(socket: Socket): Peer {
  const peer: Peer = { socket, received: '', chunks: [], ended: false, closed: false, error: undefined };
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    peer.received += text;
    peer.chunks.push({ text, at: Date.now() });
  });
  socket.on('end', () => (peer.ended = true));
  socket.on('error', (err: NodeJS.ErrnoException) => (peer.error = err.code ?? err.message));
  socket.on('close', () => (peer.closed = true));
  return peer;
}

/** Waits for `check`, generously: the machine may be busy. */
export const until = (check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> =>
  waitUntil(
    () => check(),
    timeoutMs,
    () => `still waiting for ${what}`,
  );

/** Writes `text`; resolves once the kernel has it (on loopback: in the receiving socket's queue). */
export const send = (peer: Peer, text: string | Buffer): Promise<void> =>
  new Promise((resolve, reject) => peer.socket.write(text, (err) => (err ? reject(err) : resolve())));

/** Half-closes; resolves once the FIN is sent. */
export const finish = (peer: Peer): Promise<void> => new Promise((resolve) => peer.socket.end(() => resolve()));

/** A server standing in for the master, a {@link FaultProxy} in front of it, and clients through it. */
export class ProxyRig {
  private readonly clients: Socket[] = [];

  private constructor(
    /** The stand-in master; a test that closes it puts a listening one back. */
    public server: Server,
    readonly proxy: FaultProxy,
    /** Every connection the server accepted, in order. */
    readonly serverPeers: Peer[],
  ) {}

  static async start(options: Omit<FaultProxyOptions, 'upstreamPort'> = {}): Promise<ProxyRig> {
    const peers: Peer[] = [];
    // No Nagle anywhere: a small write must not wait for the ACK of the one before (a delayed ACK takes 40 ms).
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => peers.push(watch(socket)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const proxy = await new FaultProxy({ ...options, upstreamPort: () => port }).listen();
    return new ProxyRig(server, proxy, peers);
  }

  /** Connects a client through the proxy. */
  async client(): Promise<Peer> {
    const socket = connect({ host: '127.0.0.1', port: this.proxy.port, noDelay: true });
    this.clients.push(socket);
    const peer = watch(socket);
    await once(socket, 'connect');
    return peer;
  }

  /** Connects a client and waits for the server to have accepted its upstream. */
  async connected(): Promise<{ slave: Peer; master: Peer }> {
    const before = this.serverPeers.length;
    const slave = await this.client();
    await until(() => this.serverPeers.length > before, 'the upstream connection');
    return { slave, master: this.serverPeers[before]! };
  }

  async close(): Promise<void> {
    for (const client of this.clients.splice(0)) client.destroy();
    await this.proxy.close();
    for (const peer of this.serverPeers) peer.socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
