/**
 * How fast the local backend splits a stopped pack's output file into one log
 * per slave (`splitPackFile`): a pack of `SLAVES` (default 1,000, the largest
 * pack) slaves that each wrote `ROUNDS` (default 60: a minute at 1 s) `sent`
 * lines, split into one file each in a temporary directory, against copying
 * the same file (`copyFile`). Prints lines per second of each, until every
 * file is closed (written out).
 *
 *   npm run -s build && npx tsc -p tsconfig.bench.json && node .bench-build/bench/log-split.js
 */
import { createWriteStream, mkdtempSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LogSplitter, splitPackFile } from '../src/orchestrator/local/slave-packs';

const SLAVES = Number(process.env.SLAVES ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 60);
const RUNS = Number(process.env.RUNS ?? 3);

function sentLine(node: string, seq: number): string {
  const message = `I am still alive, client: ${node}`;
  return `{"timestamp":"2026-12-01T18:00:00.000Z","level":"info","event":"sent","message":"${message}","node":"${node}","seq":${seq},"type":"heartbeat"}\n`;
}

/** Every round, one line from every slave, as a pack writes them. */
function packOutput(): string {
  const lines: string[] = [];
  for (let seq = 1; seq <= ROUNDS; seq++) {
    for (let i = 1; i <= SLAVES; i++) lines.push(sentLine(`slave-${i}`, seq));
  }
  return lines.join('');
}

async function closeAll(files: Iterable<WriteStream>): Promise<void> {
  await Promise.all([...files].map((file) => (file.end(), once(file, 'close'))));
}

async function splitMs(dir: string, packFile: string): Promise<number> {
  const began = performance.now();
  const files = new Map<string, WriteStream>();
  for (let i = 1; i <= SLAVES; i++) files.set(`slave-${i}`, createWriteStream(join(dir, `slave-${i}.jsonl`)));
  await Promise.all([...files.values()].map((file) => once(file, 'open')));
  const fallback = createWriteStream(join(dir, 'other.jsonl'));
  await splitPackFile(packFile, new LogSplitter(files, fallback));
  await closeAll([...files.values(), fallback]);
  return performance.now() - began;
}

async function copyMs(packFile: string, dir: string): Promise<number> {
  const began = performance.now();
  await copyFile(packFile, join(dir, 'copy.jsonl'));
  return performance.now() - began;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-split-'));
  const lines = SLAVES * ROUNDS;
  const rate = (ms: number): string => `${Math.round(lines / (ms / 1000)).toLocaleString('en')} lines/s`;
  try {
    const packFile = join(dir, 'pack.jsonl');
    const output = packOutput();
    writeFileSync(packFile, output);
    console.log(
      `a pack of ${SLAVES} slaves × ${ROUNDS} lines (${(output.length / 2 ** 20).toFixed(1)} MiB), ${RUNS} runs`,
    );
    for (let run = 1; run <= RUNS; run++) {
      const split = await splitMs(dir, packFile);
      const copy = await copyMs(packFile, dir);
      console.log(
        `run ${run}: split into ${SLAVES} files ${rate(split)}; copied to one file ${rate(copy)} (ratio ${(copy / split).toFixed(2)})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
