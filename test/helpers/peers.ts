import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { FrameDecoder, toAck } from '../../src/protocol';
import { waitUntil } from './wait';

/** A slave that speaks exactly the seed's format: `{"msg": …}` + `\r`, no other field. */
export async function seedPeer(
  port: number,
): Promise<{ socket: Socket; send(msg: string): void; close(): Promise<void> }> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  return {
    socket,
    // Python's json.dumps puts a space after the colon; so do we, to be faithful.
    send: (msg) => socket.write(`{"msg": ${JSON.stringify(msg)}}\r`),
    close: async () => {
      socket.end();
      await once(socket, 'close');
    },
  };
}

/** A master that reads like the seed's: append to a string, split on `\r`, read `msg`. */
export async function seedMaster(): Promise<{
  port: number;
  messages: string[];
  disconnects: number;
  server: Server;
  close(): Promise<void>;
}> {
  const state = { messages: [] as string[], disconnects: 0 };
  const server = createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      buffered += data;
      const parts = buffered.split('\r');
      buffered = parts.pop() ?? '';
      for (const part of parts) state.messages.push((JSON.parse(part) as { msg: string }).msg);
    });
    socket.on('close', () => (state.disconnects += 1));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get messages() {
      return state.messages;
    },
    get disconnects() {
      return state.disconnects;
    },
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Opens a raw connection, for hostile input. */
export async function rawClient(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/** A peer that writes frames by hand, as `node`, and keeps the acks it gets. */
export interface HandPeer {
  socket: Socket;
  /** The seq of every ack addressed to `node`, in order. */
  acks: number[];
  /** The seq of every resend request (an ack with `resend: true`). */
  resends: number[];
  /** Writes the frames in one write, so they arrive in one piece. */
  write(...frames: object[]): boolean;
  /** Writes `text` as it is: broken frames, the seed's format. */
  raw(text: string): boolean;
  hello(extra?: object): boolean;
  /** Writes a heartbeat per seq, in one write. */
  beats(...seqs: number[]): boolean;
  skip(to: number): boolean;
  /** Resolves once an ack of at least `seq` came. */
  acked(seq: number): Promise<void>;
  /** Closes its end (FIN) and resolves once the socket has closed, also if the master closed it first. */
  close(): Promise<void>;
}

export async function handPeer(port: number, node: string): Promise<HandPeer> {
  const socket = await rawClient(port);
  const acks: number[] = [];
  const resends: number[] = [];
  const decoder = new FrameDecoder({
    frame: (frame) => {
      const ack = toAck(frame);
      if (ack?.node === node) (ack.resend === true ? resends : acks).push(ack.seq);
    },
    error: () => undefined,
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  const write = (...frames: object[]): boolean => socket.write(frames.map((f) => JSON.stringify(f) + '\r').join(''));
  return {
    socket,
    acks,
    resends,
    write,
    raw: (text) => socket.write(text),
    hello: (extra = {}) => write({ type: 'hello', node, msg: `Hello World, I am client ${node}`, ...extra }),
    beats: (...seqs) => write(...seqs.map((seq) => ({ type: 'heartbeat', node, seq, msg: `beat ${seq}` }))),
    skip: (to) => write({ type: 'skip', node, to }),
    acked: (seq) =>
      waitUntil(
        () => acks.some((s) => s >= seq),
        5000,
        () => `acks: ${acks.join(',')}`,
      ),
    close: async () => {
      if (socket.closed) return;
      const closed = once(socket, 'close');
      socket.end();
      await closed;
    },
  };
}

/** A `handPeer` that has said hello asking for acks, with its boot id. */
export async function ackingPeer(port: number, node: string, boot: string): Promise<HandPeer> {
  const peer = await handPeer(port, node);
  peer.hello({ acks: true, boot });
  return peer;
}
