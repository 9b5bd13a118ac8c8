import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { FaultProxy } from '../../src/orchestrator/local/fault-proxy';

/** Long enough for a byte or a FIN to cross loopback many times over. */
const QUIET_MS = 300;

/** A socket's received text and how it ended, as they happen. */
interface Peer {
  socket: Socket;
  received: string;
  ended: boolean;
  closed: boolean;
  error: string | undefined;
}

function watch(socket: Socket): Peer {
  const peer: Peer = { socket, received: '', ended: false, closed: false, error: undefined };
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => (peer.received += text));
  socket.on('end', () => (peer.ended = true));
  socket.on('error', (err: NodeJS.ErrnoException) => (peer.error = err.code ?? err.message));
  socket.on('close', () => (peer.closed = true));
  return peer;
}

async function until(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const quiet = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, QUIET_MS));

let server: Server;
let serverPeers: Peer[];
let proxy: FaultProxy;
const clients: Socket[] = [];

beforeEach(async () => {
  serverPeers = [];
  server = createServer({ allowHalfOpen: true }, (socket) => serverPeers.push(watch(socket)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  proxy = await new FaultProxy({ upstreamPort: () => port }).listen();
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await proxy.close();
  for (const peer of serverPeers) peer.socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** Connects a client through the proxy. */
async function client(): Promise<Peer> {
  const socket = connect({ host: '127.0.0.1', port: proxy.port });
  clients.push(socket);
  const peer = watch(socket);
  await once(socket, 'connect');
  return peer;
}

/** Connects a client and waits for the server to have accepted its upstream. */
async function connected(): Promise<{ slave: Peer; master: Peer }> {
  const before = serverPeers.length;
  const slave = await client();
  await until(() => serverPeers.length > before, 'the upstream connection');
  return { slave, master: serverPeers[before]! };
}

describe('FaultProxy', () => {
  it('forwards bytes both ways and passes a FIN on', async () => {
    const { slave, master } = await connected();
    slave.socket.write('hello\r');
    await until(() => master.received === 'hello\r', 'bytes upstream');
    master.socket.write('ack');
    await until(() => slave.received === 'ack', 'bytes downstream');
    slave.socket.end();
    await until(() => master.ended, 'the FIN upstream');
    master.socket.end();
    await until(() => slave.closed, 'the close downstream');
    expect(slave.error).toBeUndefined();
  });

  it('drops bytes both ways while cut, and sends no FIN for a master-side close', async () => {
    const { slave, master } = await connected();
    proxy.cut();
    slave.socket.write('lost-up');
    master.socket.write('lost-down');
    master.socket.end();
    await quiet();
    expect(master.received).toBe('');
    expect(slave.received).toBe('');
    expect(slave.ended).toBe(false);
    expect(slave.closed).toBe(false);
    expect(slave.error).toBeUndefined();
  });

  it('resumes forwarding after heal on a connection that stayed open', async () => {
    const { slave, master } = await connected();
    proxy.cut();
    slave.socket.write('lost');
    await quiet();
    proxy.heal();
    slave.socket.write('after');
    master.socket.write('back');
    await until(() => master.received === 'after' && slave.received === 'back', 'traffic after heal');
    expect(slave.closed).toBe(false);
  });

  it('resets at heal a connection whose upstream closed during the cut', async () => {
    const { slave, master } = await connected();
    proxy.cut();
    master.socket.destroy();
    await quiet();
    expect(slave.closed).toBe(false);
    proxy.heal();
    await until(() => slave.closed, 'the reset');
    expect(slave.error).toBe('ECONNRESET');
    expect(slave.ended).toBe(false);
  });

  it('holds a connection accepted during the cut without an upstream, and resets it at heal', async () => {
    proxy.cut();
    const held = await client();
    held.socket.write('hello\r');
    await quiet();
    expect(serverPeers).toHaveLength(0);
    expect(held.closed).toBe(false);
    proxy.heal();
    await until(() => held.closed, 'the reset');
    expect(held.error).toBe('ECONNRESET');
    // A new connection after heal reaches the master again.
    const { slave, master } = await connected();
    slave.socket.write('again');
    await until(() => master.received === 'again', 'bytes after heal');
  });

  it('passes a FIN the slave sent during the cut on at heal', async () => {
    const { slave, master } = await connected();
    proxy.cut();
    slave.socket.end();
    await quiet();
    expect(master.ended).toBe(false);
    proxy.heal();
    await until(() => master.ended, 'the FIN upstream');
  });

  it('resets the slave when the master refuses the upstream connection', async () => {
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const slave = await client();
    await until(() => slave.closed, 'the reset');
    expect(slave.error).toBe('ECONNRESET');
    // Restore a listening server for afterEach.
    server = createServer(() => undefined).listen(port, '127.0.0.1');
    await once(server, 'listening');
  });
});
