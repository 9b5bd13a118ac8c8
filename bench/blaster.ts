/**
 * Peers that flood the master, for `npm run bench flood`
 * (`node blaster.js <port> <connections>`). Each connection says an acking
 * hello, then sends numbered heartbeats as fast as the socket takes them,
 * reading (and dropping) the acks — or, with `never-read` as a third
 * argument, never reading them; when the master closes it, it reconnects as a
 * new incarnation at once. Runs until its parent goes (the IPC channel).
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { encodeFrame, heartbeatText, helloText, toFrame } from '../src/protocol';

/** Frames per write: large writes, as a flooder makes them. */
const FRAMES_PER_WRITE = 500;

const port = Number(process.argv[2]);
const connections = Number(process.argv[3]);
const neverRead = process.argv[4] === 'never-read';
const totals = { frames: 0, connections: 0 };

function blast(node: string): void {
  totals.connections += 1;
  const socket = connect({ port, host: '127.0.0.1' });
  let seq = 0;
  const write = (): void => {
    while (process.connected) {
      const frames: string[] = [];
      for (let i = 0; i < FRAMES_PER_WRITE; i++) {
        seq += 1;
        frames.push(encodeFrame(toFrame({ type: 'heartbeat', node, seq, msg: heartbeatText(node) })));
      }
      totals.frames += FRAMES_PER_WRITE;
      if (!socket.write(frames.join(''))) return;
    }
  };
  socket.on('connect', () => {
    const boot = randomBytes(8).toString('hex');
    socket.write(encodeFrame(toFrame({ type: 'hello', node, msg: helloText(node), acks: true, boot })));
    write();
  });
  socket.on('drain', write);
  if (neverRead) socket.pause();
  else socket.on('data', () => undefined);
  socket.on('error', () => undefined);
  socket.on('close', () => {
    if (process.connected) blast(node);
  });
}

for (let c = 0; c < connections; c++) blast(`blaster-${c + 1}`);
process.on('disconnect', () => {
  process.exitCode = 0;
  process.exit();
});
process.on('message', (request) => {
  if (request === 'totals') process.send?.(totals);
});
process.send?.('blasting');
