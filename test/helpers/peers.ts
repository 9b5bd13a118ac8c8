import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

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
