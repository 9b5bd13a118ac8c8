import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTail } from '../../src/orchestrator/local/file-tail';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-tail-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('FileTail', () => {
  it('reads nothing while the file does not exist, then the whole lines appended since the last read', () => {
    const file = join(dir, 'out.jsonl');
    const tail = new FileTail(file);
    try {
      expect(tail.read()).toEqual([]);
      appendFileSync(file, 'one\ntwo\nthr');
      expect(tail.read()).toEqual(['one', 'two']);
      expect(tail.read()).toEqual([]);
      appendFileSync(file, 'ee\n');
      expect(tail.read()).toEqual(['three']);
    } finally {
      tail.close();
    }
  });

  it('never decodes a character cut between two reads in halves', () => {
    const file = join(dir, 'out.jsonl');
    const tail = new FileTail(file);
    const euro = Buffer.from('€');
    try {
      appendFileSync(file, Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]));
      expect(tail.read()).toEqual([]);
      appendFileSync(file, Buffer.concat([euro.subarray(1), Buffer.from('b\n')]));
      expect(tail.read()).toEqual(['a€b']);
    } finally {
      tail.close();
    }
  });

  it('starts at the offset it is given', () => {
    const file = join(dir, 'out.jsonl');
    appendFileSync(file, 'old\n');
    const tail = new FileTail(file, 4);
    try {
      appendFileSync(file, 'new\n');
      expect(tail.read()).toEqual(['new']);
    } finally {
      tail.close();
    }
  });
});
