import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  LogSplitter,
  nodeOfLine,
  packFileName,
  packNames,
  planSlaveProcesses,
  slaveLogsOpenAtOnce,
  splitPackFile,
  targetedSlaves,
} from '../../src/orchestrator/local/slave-packs';
import { masterOpenFiles, openFilesLimits } from '../../src/orchestrator/local/descriptors';
import type { ScenarioEvent } from '../../src/orchestrator/types';

const PACKS = { packThreshold: 50, packSize: 100 };

describe('planSlaveProcesses', () => {
  it('runs every slave alone up to the threshold, targeted or not', () => {
    const plan = planSlaveProcesses(50, new Set(['slave-3']), PACKS);
    expect(plan).toHaveLength(50);
    expect(plan.every((entry) => entry.kind === 'alone')).toBe(true);
  });

  it('above it, runs each targeted slave alone and packs the runs between them', () => {
    const plan = planSlaveProcesses(300, new Set(['slave-17', 'slave-150', 'slave-300']), PACKS);
    expect(plan).toEqual([
      { kind: 'pack', first: 1, count: 16 },
      { kind: 'alone', name: 'slave-17' },
      { kind: 'pack', first: 18, count: 100 },
      { kind: 'pack', first: 118, count: 32 },
      { kind: 'alone', name: 'slave-150' },
      { kind: 'pack', first: 151, count: 100 },
      { kind: 'pack', first: 251, count: 49 },
      { kind: 'alone', name: 'slave-300' },
    ]);
    // The runner keeps the lone slaves' logs open, and one pack's while it splits that pack's output.
    expect(slaveLogsOpenAtOnce(plan)).toBe(3 + 100);
    // Every slave is in exactly one process.
    const names = plan.flatMap((entry) => (entry.kind === 'alone' ? [entry.name] : packNames(entry)));
    expect(names).toEqual(Array.from({ length: 300 }, (_, i) => `slave-${i + 1}`));
  });

  it('takes the targets of slave events, not the master', () => {
    const events = [
      { atMs: 0, action: 'pause', target: 'slave-2' },
      { atMs: 1, action: 'master-restart', target: 'master' },
      { atMs: 2, action: 'unpause', target: 'slave-2' },
    ] as ScenarioEvent[];
    expect([...targetedSlaves(events)]).toEqual(['slave-2']);
  });
});

describe('nodeOfLine', () => {
  const line = (fields: Record<string, unknown>): string =>
    JSON.stringify({ timestamp: 't', level: 'info', event: 'sent', message: 'm', ...fields });

  it('reads the node of a slave line', () => {
    expect(nodeOfLine(line({ node: 'slave-7', seq: 3 }))).toBe('slave-7');
  });

  it('is not fooled by a message that holds the field', () => {
    expect(nodeOfLine(line({ message: ',"node":"slave-1"', node: 'slave-2' }))).toBe('slave-2');
  });

  it('reads an id with escapes in it', () => {
    expect(nodeOfLine(line({ node: 'a"b\\c' }))).toBe('a"b\\c');
  });

  it('says undefined for a line without a node', () => {
    expect(nodeOfLine(line({}))).toBeUndefined();
    expect(nodeOfLine('not json')).toBeUndefined();
  });
});

class Sink extends Writable {
  text = '';
  writes = 0;
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.text += chunk.toString();
    this.writes += 1;
    callback();
  }
}

describe('LogSplitter', () => {
  it("writes each line to its node's file, once per file per chunk, and the others to the fallback", () => {
    const a = new Sink();
    const b = new Sink();
    const fallback = new Sink();
    const splitter = new LogSplitter(
      new Map([
        ['slave-1', a],
        ['slave-2', b],
      ]),
      fallback,
    );
    const lineOf = (node: string, seq: number): string =>
      `{"event":"sent","message":"m","node":"${node}","seq":${seq}}\n`;
    splitter.write(lineOf('slave-1', 1) + lineOf('slave-2', 1) + lineOf('slave-1', 2) + 'garbage\n');
    splitter.write(lineOf('slave-9', 1));
    expect(a.text).toBe(lineOf('slave-1', 1) + lineOf('slave-1', 2));
    expect(a.writes).toBe(1);
    expect(b.text).toBe(lineOf('slave-2', 1));
    expect(fallback.text).toBe('garbage\n' + lineOf('slave-9', 1));
  });
});

describe('splitPackFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'picluster-pack-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("splits a stopped pack's file into its slaves' logs, across chunks and a torn last line", async () => {
    const lineOf = (node: string, seq: number): string =>
      `{"event":"sent","message":"m €","node":"${node}","seq":${seq}}\n`;
    const lines = Array.from({ length: 200 }, (_, i) => lineOf(`slave-${(i % 3) + 1}`, i));
    const file = join(dir, packFileName(['slave-1', 'slave-2', 'slave-3']));
    expect(file.endsWith('slave-1-3.pack.jsonl')).toBe(true);
    // A pack killed mid-write leaves its last line without a newline.
    writeFileSync(file, lines.join('') + '{"event":"sent","node":"slave-2","se');
    const files = new Map([1, 2, 3].map((n) => [`slave-${n}`, new Sink()]));
    const fallback = new Sink();
    // Batches of 200 bytes: a few lines each, 67 of them.
    await splitPackFile(file, new LogSplitter(files, fallback), 200);
    const own = (n: number): string => lines.filter((line) => line.includes(`"node":"slave-${n}"`)).join('');
    expect(files.get('slave-1')!.text).toBe(own(1));
    expect(files.get('slave-2')!.text).toBe(own(2) + '{"event":"sent","node":"slave-2","se\n');
    expect(files.get('slave-3')!.text).toBe(own(3));
    expect(fallback.text).toBe('');
  });
});

describe('open files', () => {
  const limitsText = (soft: string, hard: string): string =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 ${hard}                 files\n`;

  it('reads the soft and the hard limit', () => {
    expect(openFilesLimits(() => limitsText('1024', '524288'))).toEqual({ soft: 1024, hard: 524288 });
    expect(openFilesLimits(() => limitsText('unlimited', 'unlimited'))).toEqual({ soft: Infinity, hard: Infinity });
    expect(
      openFilesLimits(() => {
        throw new Error('ENOENT');
      }),
    ).toBeUndefined();
  });

  it('starts the master as it is when the limit is enough, raised when only the hard limit is', () => {
    expect(masterOpenFiles(10_000, { soft: 20_000, hard: 20_000 })).toBeUndefined();
    expect(masterOpenFiles(10_000, { soft: 10_500, hard: 20_000 })).toBe(11_024);
    expect(masterOpenFiles(10_000, undefined)).toBeUndefined();
  });

  it('refuses, naming the limit, when the runner or the master cannot have enough', () => {
    expect(() => masterOpenFiles(10_000, { soft: 1024, hard: 524_288 })).toThrow(
      expect.objectContaining({
        code: 'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
        message: expect.stringContaining('ulimit -n 10256'),
      }),
    );
    // 10,000 slaves, of which 10 alone and the others in packs of 1,000: 1,010 logs open at once.
    expect(masterOpenFiles(10_000, { soft: 2048, hard: 20_000 }, 1010)).toBe(11_024);
    expect(() => masterOpenFiles(10_000, { soft: 1024, hard: 20_000 }, 1010)).toThrow(
      expect.objectContaining({ message: expect.stringContaining('the runner (1010 logs at once)') }),
    );
    expect(() => masterOpenFiles(10_000, { soft: 10_500, hard: 10_500 })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('hard limit 10500') }),
    );
  });
});
