import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { firstEvent } from './sockets';

/** What a fuzz connection did, in order: enough to do it again. `conn` numbers the fuzzer's connections. */
export type Step =
  | { conn: number; op: 'open' }
  /**
   * One write, so one TCP segment as far as the sender decides: the split is
   * part of the input. `data` is base64, of the bytes gzipped when `gzip`
   * (fuzz writes are repetitive: a 64 KiB string of one letter).
   */
  | { conn: number; op: 'write'; data: string; gzip?: true }
  /** Half-close: a FIN, the socket stays open for reading. */
  | { conn: number; op: 'end' }
  /** An RST. */
  | { conn: number; op: 'reset' };

export type FindingKind = 'crash' | 'hang' | 'memory' | 'lost';

/** A finding saved to replay: the seed, what was found, and the steps of the guilty connections. */
export interface Reproducer {
  finding: FindingKind;
  seed: number;
  /** What the fuzzer saw, in words. */
  detail: string;
  /** The arguments the master ran with (after `picluster`). */
  masterArgs: string[];
  /** The last steps of the connections that may be guilty, oldest first. */
  steps: Step[];
}

/** The checkout this file is in: compiled (`.fuzz-build/fuzz`) or run by ts-jest (`fuzz`), it is the first with a package.json. */
function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const FIXTURES = join(repoRoot(), 'test', 'fixtures', 'fuzz');
/** Where reproducers are kept, one JSON file each, replayed by the test suite. */
export const REPRODUCERS_DIR = join(FIXTURES, 'reproducers');
/** The corpus of valid frames, one a line (a JSON text never holds a raw `\r` or `\n`). */
export const CORPUS_FILE = join(FIXTURES, 'corpus', 'frames.jsonl');
/** `picluster`, built. */
export const CLI = join(repoRoot(), 'dist', 'cli', 'main.js');

export function loadCorpus(file = CORPUS_FILE): Buffer[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => Buffer.from(line));
}

/** Writes larger than this are stored gzipped. */
const GZIP_FROM_BYTES = 1024;

export function writeStep(conn: number, bytes: Buffer): Step {
  if (bytes.length < GZIP_FROM_BYTES) return { conn, op: 'write', data: bytes.toString('base64') };
  return { conn, op: 'write', data: gzipSync(bytes).toString('base64'), gzip: true };
}

export function bytesOf(step: Extract<Step, { op: 'write' }>): Buffer {
  const bytes = Buffer.from(step.data, 'base64');
  return step.gzip === true ? gunzipSync(bytes) : bytes;
}

export function saveReproducer(reproducer: Reproducer, dir = REPRODUCERS_DIR): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${reproducer.finding}-${reproducer.seed}.json`);
  // One step a line: readable, and a diff of two reproducers says something.
  const steps = reproducer.steps.map((step) => JSON.stringify(step)).join(',\n  ');
  writeFileSync(
    file,
    JSON.stringify({ ...reproducer, steps: [] }, null, 1).replace('"steps": []', `"steps": [\n  ${steps}\n ]`) + '\n',
  );
  return file;
}

export function readReproducer(file: string): Reproducer {
  const value = JSON.parse(readFileSync(file, 'utf8')) as Reproducer;
  if (!Array.isArray(value.steps) || !Array.isArray(value.masterArgs)) {
    throw new Error(`${file} is not a fuzz reproducer (no steps or masterArgs)`);
  }
  return value;
}

/** Every reproducer file in `dir`, by name. */
export function reproducerFiles(dir = REPRODUCERS_DIR): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => join(dir, name));
}

/** A turn of the event loop: the next write leaves as a segment of its own (Nagle is off). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Does `steps` again against a master on `port`: the same connections, the
 * same writes one by one, the same half-closes and resets. A connection the
 * master refused or closed takes its later writes as lost, as it did the first
 * time. Resolves once every step is done and every socket is closed by us.
 */
export async function replaySteps(steps: readonly Step[], port: number, host = '127.0.0.1'): Promise<void> {
  const sockets = new Map<number, Socket>();
  for (const step of steps) {
    let socket = sockets.get(step.conn);
    // Its 'open' step, or the first step of a connection opened before the reproducer's window.
    if (socket === undefined) {
      socket = connect({ port, host });
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      sockets.set(step.conn, socket);
      await firstEvent(socket, ['connect', 'close']);
    }
    if (step.op === 'open' || socket.destroyed) continue;
    if (step.op === 'write') {
      if (!socket.write(bytesOf(step)) && !socket.destroyed) await firstEvent(socket, ['drain', 'close']);
    } else if (step.op === 'end') {
      socket.end();
    } else {
      socket.resetAndDestroy();
    }
    await nextTurn();
  }
  for (const socket of sockets.values()) socket.destroy();
}
