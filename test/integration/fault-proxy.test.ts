import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { FaultProxy } from '../../src/orchestrator/local/fault-proxy';
import { afterPolls, waitUntil } from '../helpers/wait';

/**
 * Poll phases after which whatever a faulty proxy did with what it read
 * during a cut has reached the other end: the longest such chain is three
 * hops (it reads a FIN, it resets or closes the other end, whose `close`
 * comes one turn after it reads that).
 */
const HOPS = 3;

/** What each end sends right before a cut, to prove the path carried bytes then. */
const UP = 'up-before';
const DOWN = 'down-before';

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

const until = (check: () => boolean, what: string): Promise<void> =>
  waitUntil(
    () => check(),
    5000,
    () => `still waiting for ${what}`,
  );

/** Writes `text`; resolves once the kernel has it (on loopback: in the receiving socket's queue). */
const send = (peer: Peer, text: string): Promise<void> =>
  new Promise((resolve, reject) => peer.socket.write(text, (err) => (err ? reject(err) : resolve())));

/** Half-closes; resolves once the FIN is sent. */
const finish = (peer: Peer): Promise<void> => new Promise((resolve) => peer.socket.end(() => resolve()));

/** Sends {@link UP} and {@link DOWN} and waits for both: the path carries bytes both ways now. */
async function bothWays(slave: Peer, master: Peer): Promise<void> {
  slave.socket.write(UP);
  master.socket.write(DOWN);
  await until(() => master.received === UP && slave.received === DOWN, 'bytes both ways before the cut');
}

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

/** A connection that carried bytes both ways, then was cut while each end sent more, which is lost. */
async function cutWhileSending(): Promise<{ slave: Peer; master: Peer }> {
  const { slave, master } = await connected();
  await bothWays(slave, master);
  proxy.cut();
  await send(slave, 'lost-up');
  await send(master, 'lost-down');
  return { slave, master };
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
    const { slave, master } = await cutWhileSending();
    await finish(master);
    await afterPolls(HOPS);
    expect(master.received).toBe(UP);
    expect(slave.received).toBe(DOWN);
    expect(slave.ended).toBe(false);
    expect(slave.closed).toBe(false);
    expect(slave.error).toBeUndefined();
    // The master's side closed during the cut, so heal ends both connections: whatever the
    // proxy had passed on during the cut would have come first on each of them.
    proxy.heal();
    await until(() => master.closed && slave.closed, 'both ends closed at heal');
    expect(master.received).toBe(UP);
    expect(slave.received).toBe(DOWN);
    expect(slave.ended).toBe(false);
    expect(slave.error).toBe('ECONNRESET');
  });

  it('resumes forwarding after heal on a connection that stayed open', async () => {
    const { slave, master } = await cutWhileSending();
    await afterPolls(HOPS);
    proxy.heal();
    slave.socket.write('after-up');
    master.socket.write('after-down');
    await until(
      () => master.received.endsWith('after-up') && slave.received.endsWith('after-down'),
      'traffic after heal',
    );
    // Sent before these on the same connections, bytes of the cut would have come first.
    expect(master.received).toBe(UP + 'after-up');
    expect(slave.received).toBe(DOWN + 'after-down');
    expect(slave.closed).toBe(false);
  });

  it('resets at heal a connection whose upstream closed during the cut', async () => {
    const { slave, master } = await connected();
    await bothWays(slave, master);
    proxy.cut();
    master.socket.destroy();
    await afterPolls(HOPS);
    expect(slave.closed).toBe(false);
    proxy.heal();
    await until(() => slave.closed, 'the reset');
    expect(slave.error).toBe('ECONNRESET');
    // A FIN passed on during the cut would have come before the reset.
    expect(slave.ended).toBe(false);
    expect(slave.received).toBe(DOWN);
  });

  it('holds a connection accepted during the cut without an upstream, and resets it at heal', async () => {
    const before = await connected();
    await bothWays(before.slave, before.master);
    proxy.cut();
    const held = await client();
    await send(held, 'hello\r');
    await afterPolls(HOPS);
    expect(serverPeers).toHaveLength(1);
    expect(held.closed).toBe(false);
    proxy.heal();
    await until(() => held.closed, 'the reset');
    expect(held.error).toBe('ECONNRESET');
    // A new connection after heal reaches the master again, and is the only one since the cut:
    // an upstream opened for the held one would have been accepted before it.
    const { slave, master } = await connected();
    slave.socket.write('again');
    await until(() => master.received === 'again', 'bytes after heal');
    expect(serverPeers).toHaveLength(2);
  });

  it('passes a FIN the slave sent during the cut on at heal', async () => {
    const { slave, master } = await connected();
    await bothWays(slave, master);
    proxy.cut();
    await send(slave, 'lost-up');
    await finish(slave);
    await afterPolls(HOPS);
    expect(master.ended).toBe(false);
    proxy.heal();
    await until(() => master.ended, 'the FIN upstream');
    // The bytes the slave sent before its FIN, during the cut, stay dropped.
    expect(master.received).toBe(UP);
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
