/**
 * How fast the local backend splits a pack's output into one log per slave
 * (`LogSplitter`): `SLAVES` (default 10,000) slaves' `sent` lines, in 64 KiB
 * chunks as a pipe delivers them, into one file each in a temporary
 * directory, against the same chunks appended to one file. Prints lines per
 * second of each, until every file is closed (written out).
 *
 *   npm run -s build && npx tsc -p tsconfig.bench.json && node .bench-build/bench/log-split.js
 */
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LogSplitter } from '../src/orchestrator/local/slave-packs';

const SLAVES = Number(process.env.SLAVES ?? 10_000);
const ROUNDS = Number(process.env.ROUNDS ?? 20);
const CHUNK_BYTES = 64 * 1024;

function sentLine(node: string, seq: number): string {
  const message = `I am still alive, client: ${node}`;
  return `{"timestamp":"2026-12-01T18:00:00.000Z","level":"info","event":"sent","message":"${message}","node":"${node}","seq":${seq},"type":"heartbeat"}\n`;
}

/** Every round, one line from every slave, cut in chunks that end at a line's end. */
function chunks(): string[] {
  const out: string[] = [];
  let chunk = '';
  for (let seq = 1; seq <= ROUNDS; seq++) {
    for (let i = 1; i <= SLAVES; i++) {
      chunk += sentLine(`slave-${i}`, seq);
      if (chunk.length >= CHUNK_BYTES) {
        out.push(chunk);
        chunk = '';
      }
    }
  }
  if (chunk !== '') out.push(chunk);
  return out;
}

async function closeAll(files: WriteStream[]): Promise<void> {
  await Promise.all(files.map((file) => (file.end(), once(file, 'close'))));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-split-'));
  const input = chunks();
  const lines = SLAVES * ROUNDS;
  try {
    const files = new Map<string, WriteStream>();
    for (let i = 1; i <= SLAVES; i++) files.set(`slave-${i}`, createWriteStream(join(dir, `slave-${i}.jsonl`)));
    await Promise.all([...files.values()].map((file) => once(file, 'open')));
    const splitter = new LogSplitter(files, createWriteStream(join(dir, 'other.jsonl')));
    let began = performance.now();
    for (const chunk of input) splitter.write(chunk);
    const splitMs = performance.now() - began;
    await closeAll([...files.values()]);
    const splitTotalMs = performance.now() - began;

    const one = createWriteStream(join(dir, 'one.jsonl'));
    await once(one, 'open');
    began = performance.now();
    for (const chunk of input) one.write(chunk);
    await closeAll([one]);
    const oneMs = performance.now() - began;
    const rate = (ms: number): string => `${Math.round(lines / (ms / 1000)).toLocaleString('en')} lines/s`;
    console.log(`${SLAVES} slaves × ${ROUNDS} lines, ${input.length} chunks of 64 KiB`);
    console.log(`split into ${SLAVES} files: ${rate(splitTotalMs)} (splitting alone ${rate(splitMs)})`);
    console.log(`appended to one file:      ${rate(oneMs)} (ratio ${(oneMs / splitTotalMs).toFixed(2)})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
