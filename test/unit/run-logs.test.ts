import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkRun } from '../../src/orchestrator/checker';
import {
  makeDirectories,
  openRunDirectory,
  readRunDirectory,
  RunDirectoryError,
} from '../../src/orchestrator/run-directory';
import { readRunLog, runLog, textLines } from '../../src/orchestrator/run-logs';

const FIXTURES = join(__dirname, '..', 'fixtures', 'runs');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-run-logs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('textLines', () => {
  // Lines of every length around the chunk size, multibyte characters across chunk edges, blank lines.
  const lines = Array.from({ length: 3000 }, (_, i) => (i % 97 === 0 ? '' : `${i} ${'é✓'.repeat(i % 23)}`));

  it.each([1, 2, 7, 64, 1 << 20])('yields what split("\\n") does, read %i bytes at a time', (chunkBytes) => {
    for (const text of [lines.join('\n'), lines.join('\n') + '\n']) {
      const file = join(dir, 'log.jsonl');
      writeFileSync(file, text);
      const read = [...textLines(file, { chunkBytes })];
      const expected = text.split('\n');
      if (text.endsWith('\n')) expected.pop();
      expect(read.map((l) => l.text)).toEqual(expected);
      expect(read.map((l) => l.line)).toEqual(expected.map((_, i) => i + 1));
    }
  });

  it('refuses a line longer than the limit, naming its number, whatever the chunk size', () => {
    const file = join(dir, 'log.jsonl');
    writeFileSync(file, `short\n${'x'.repeat(100)}\nshort\n`);
    for (const chunkBytes of [8, 1000]) {
      expect(() => [...textLines(file, { chunkBytes, maxLineBytes: 50 })]).toThrow(`${file}:2: line longer than 50`);
    }
  });
});

describe('openRunDirectory: the streamed check', () => {
  it.each(readdirSync(FIXTURES))('gives %s the same report as the check of the lines in memory', async (name) => {
    const streamed = checkRun(await openRunDirectory(join(FIXTURES, name), { chunkBytes: 16 }));
    expect(streamed).toEqual(checkRun(await readRunDirectory(join(FIXTURES, name))));
  });

  it('refuses logs it would run out of heap on, before reading them, in one line', async () => {
    cpSync(join(FIXTURES, 'clean'), dir, { recursive: true });
    const error = await openRunDirectory(dir, { heapLimitBytes: 1000 }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RunDirectoryError);
    expect((error as Error).message).toMatch(/its logs total \d+ MiB; .*--max-old-space-size=\d+ allows it/);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('runLog: lines read through the log contract', () => {
  const lines = [
    { timestamp: '2025-06-01T00:00:00.000Z', event: 'disconnect', node: 'a', reason: 'timeout', conn: 1 },
    { timestamp: '2025-06-01T00:00:00.001Z', event: 'disconnect', node: 'a', reason: 'later', conn: '2' },
    { timestamp: '2025-06-01T00:00:00.002Z', event: 'from_a_later_version', node: 'a' },
  ];

  it('types known events, leaves out fields of the wrong type, keeps unknown events as records', () => {
    const file = join(dir, 'master.jsonl');
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const log = runLog(file, 'master', { chunkBytes: 16 });
    const read = [...log.lines()];
    expect(read.map((e) => e.kind)).toEqual(['line', 'line', 'unknown']);
    expect(read[0]?.line).toEqual(lines[0]);
    expect(read[1]?.line).toEqual({ timestamp: lines[1]?.timestamp, event: 'disconnect', node: 'a' });
    expect(read.map((e) => e.record)).toEqual(lines);
    // Read again from the first line; lines in memory read the same.
    expect([...log.lines()]).toEqual(read);
    expect([...readRunLog(lines, 'master')]).toEqual(read);
  });
});

describe('makeDirectories', () => {
  it('makes every missing component and accepts existing ones', () => {
    const deep = join(dir, 'a', 'b', 'c');
    makeDirectories(deep);
    makeDirectories(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
  });

  it('fails at once where a directory cannot be made: under /proc, under a file', () => {
    // Node's recursive mkdirSync spins forever on the first: this test would time out.
    expect(() => makeDirectories('/proc/self/picluster-run')).toThrow(/ENOENT/);
    writeFileSync(join(dir, 'file'), '');
    expect(() => makeDirectories(join(dir, 'file', 'sub'))).toThrow('file exists and is not a directory');
  });
});
