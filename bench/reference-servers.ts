/**
 * Reference servers for the ingest benchmark, run as child processes:
 * `decode-only` decodes and counts, logging nothing; `winston-default` decodes
 * and logs each message with winston's stock JSON format and Console transport.
 * Each prints `{"event":"listening","port":…}` first.
 */
import { createServer, type AddressInfo } from 'node:net';
import winston from 'winston';
import { FrameDecoder, toMessage } from '../src/protocol';

const kind = process.argv[2];
const expected = Number(process.argv[3] ?? 0);
let decoded = 0;

const logger =
  kind === 'winston-default'
    ? winston.createLogger({
        format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
        transports: [new winston.transports.Console()],
      })
    : undefined;

const server = createServer((socket) => {
  const decoder = new FrameDecoder({
    frame: (value) => {
      const message = toMessage(value);
      if (logger !== undefined && !(message instanceof Error)) {
        logger.info(`Received message: ${message.msg}`, {
          event: 'message',
          node: message.node,
          seq: message.seq,
          type: message.type,
        });
      }
      decoded += 1;
      if (decoded === expected && logger === undefined) process.stdout.write('{"event":"done"}\n');
    },
    error: () => undefined,
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  socket.on('error', () => undefined);
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ event: 'listening', port: (server.address() as AddressInfo).port }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
