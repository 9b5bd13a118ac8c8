#!/usr/bin/env node
// Writes a run directory as a long fault-free soak run would leave it: a few
// slaves beating every interval for hours, a master that logged every
// heartbeat once, and each slave's own log; `picluster check` judges it PASS.
// It measures the checker on logs far larger than memory:
//
//   node scripts/make-soak-run.mjs DIR [--master-bytes 2G] [--slaves 4] [--interval-ms 250]
//   /usr/bin/time -v node dist/cli/main.js check DIR --no-write
import { closeSync, mkdirSync, openSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    'master-bytes': { type: 'string', default: '2G' },
    slaves: { type: 'string', default: '4' },
    'interval-ms': { type: 'string', default: '250' },
  },
});
const [dir] = positionals;
if (dir === undefined) {
  console.error('usage: node scripts/make-soak-run.mjs DIR [--master-bytes 2G] [--slaves 4] [--interval-ms 250]');
  process.exit(2);
}
const UNITS = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 };
const sizeMatch = /^([0-9.]+)([KMG]?)$/i.exec(values['master-bytes']);
if (sizeMatch === null) throw new Error(`--master-bytes: a size like 2G, 500M; got ${values['master-bytes']}`);
const masterBytes = Number(sizeMatch[1]) * (UNITS[sizeMatch[2].toUpperCase()] ?? 1);
const slaves = Number(values.slaves);
const intervalMs = Number(values['interval-ms']);

mkdirSync(dir, { recursive: true });
if (readdirSync(dir).length > 0) throw new Error(`${dir} is not empty`);

const T0 = Date.parse('2025-06-01T00:00:00.000Z');
const iso = (ms) => new Date(T0 + ms).toISOString();
const names = Array.from({ length: slaves }, (_, i) => `slave-${i + 1}`);

/** A file written through a buffer of ~1 MiB: one write call per MiB, not per line. */
function writer(file) {
  const fd = openSync(join(dir, file), 'w');
  let parts = [];
  let size = 0;
  let total = 0;
  const flush = () => {
    const text = parts.join('');
    writeSync(fd, text);
    total += Buffer.byteLength(text);
    parts = [];
    size = 0;
  };
  return {
    line(object) {
      const text = JSON.stringify(object) + '\n';
      parts.push(text);
      size += text.length;
      if (size > 1 << 20) flush();
    },
    written: () => total + size,
    close() {
      flush();
      closeSync(fd);
    },
  };
}

const master = writer('master.jsonl');
const slaveLogs = names.map((name) => writer(`${name}.jsonl`));
const info = (event, message, fields) => ({ timestamp: '', level: 'info', event, message, ...fields });
const at = (ms, object) => ({ ...object, timestamp: iso(ms) });

master.line(at(-1000, info('listening', 'Listening on port 7000', { port: 7000, host: '0.0.0.0', auth: 'token' })));
names.forEach((name, i) => {
  const log = slaveLogs[i];
  const boot = `b00t${String(i).padStart(12, '0')}`;
  const hello = `Hello World, I am client ${name}`;
  const starting = { node: name, master: 'master:7000', interval_ms: intervalMs, acks: true, boot, auth: 'token' };
  log.line(at(-900 + i, info('starting', `Slave ${name} starting`, starting)));
  log.line(at(-800 + i, info('connected', 'Connected to master:7000', { node: name, local_port: 40000 + i })));
  log.line(at(-700 + i, info('sent', hello, { node: name, type: 'hello', acks: true, boot })));
  master.line(at(-800 + i, info('connect', 'Client connected', { conn: i + 1, remote: `10.0.0.${i + 2}:40000` })));
  master.line(
    at(
      -699 + i,
      info('message', `Received message: ${hello}`, { node: name, type: 'hello', conn: i + 1, acks: true, boot }),
    ),
  );
});

let seq = 0;
while (master.written() < masterBytes) {
  seq += 1;
  names.forEach((name, i) => {
    const t = seq * intervalMs + i;
    const text = `I am still alive, client: ${name}`;
    slaveLogs[i].line(at(t, info('sent', text, { node: name, seq, type: 'heartbeat' })));
    master.line(
      at(t + 1, info('message', `Received message: ${text}`, { node: name, seq, type: 'heartbeat', conn: i + 1 })),
    );
  });
}

const durationMs = seq * intervalMs + 100;
names.forEach((name, i) => {
  slaveLogs[i].line(at(durationMs + 10 + i, info('stopped', `Slave ${name} stopped`, { node: name, sent: seq })));
  slaveLogs[i].close();
  const fields = { node: name, seq, reason: 'closed', conn: i + 1 };
  master.line(at(durationMs + 12 + i, info('disconnect', 'Client disconnected', fields)));
});
master.line(at(durationMs + 50, info('shutdown', 'Master stopped', { connections: 0, signal: 'SIGTERM' })));
master.close();

writeFileSync(join(dir, 'timeline.jsonl'), '');
writeFileSync(
  join(dir, 'scenario.yaml'),
  `name: soak\nslaves: ${slaves}\nheartbeat_interval: ${intervalMs}ms\nduration: ${durationMs}ms\n`,
);
const run = {
  scenario: 'soak',
  backend: 'local',
  startedAt: iso(0),
  endedAt: iso(durationMs + 60),
  heartbeatIntervalMs: intervalMs,
  heartbeatTimeoutMs: 4 * intervalMs,
  durationMs,
  nodes: Object.fromEntries(names.map((name) => [name, name])),
};
writeFileSync(join(dir, 'run.json'), JSON.stringify(run, null, 2) + '\n');
console.log(`${dir}: master.jsonl ${master.written()} bytes, ${seq} heartbeats from each of ${slaves} slaves`);
