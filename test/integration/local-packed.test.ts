import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenario } from '../../src/orchestrator';
import { LocalBackend } from '../../src/orchestrator/local/local-backend';
import type { RunInfo } from '../../src/orchestrator/types';
import { CLI } from '../helpers/cli';
import { readJsonLines } from '../helpers/json-lines';
import { expectScenarioPasses } from '../helpers/scenario-run';

const SCENARIO = join(__dirname, '..', 'fixtures', 'scenarios', 'packed-slaves.yaml');

// 300 slaves in 7 processes, 14 s of scenario, a check of 300 logs: generous on a busy 2-core machine.
jest.setTimeout(180_000);

let tmp: string;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
});

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'picluster-packed-'));
});

afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('local backend, 300 slaves', () => {
  it('packs the untargeted slaves, keeps a process for each targeted one, and the check passes', async () => {
    const scenario = loadScenario(SCENARIO);
    const outDir = join(tmp, 'run');
    await expectScenarioPasses(scenario, new LocalBackend({ cliPath: CLI }), outDir);

    const starting = (name: string): Array<Record<string, unknown>> =>
      readJsonLines(join(outDir, `${name}.jsonl`)).filter((line) => line.event === 'starting');
    const masterPort = readJsonLines(join(outDir, 'master.jsonl')).find((line) => line.event === 'listening')!.port;
    // Packed slaves connect straight to the master; a targeted one through its own fault proxy.
    for (const name of ['slave-1', 'slave-16', 'slave-18', 'slave-149', 'slave-151', 'slave-298', 'slave-300']) {
      expect(starting(name).map((line) => line.master)).toEqual([`127.0.0.1:${masterPort}`]);
    }
    for (const name of ['slave-17', 'slave-150', 'slave-299']) {
      const masters = new Set(starting(name).map((line) => line.master));
      expect(masters.size).toBe(1);
      expect(masters.has(`127.0.0.1:${masterPort}`)).toBe(false);
    }
    // The kill restarted slave-17 alone: two incarnations; its pack neighbours have one.
    expect(starting('slave-17')).toHaveLength(2);
    expect(starting('slave-16')).toHaveLength(1);
    expect(starting('slave-18')).toHaveLength(1);
    // Each slave's file holds its own lines only, split out of its pack's output.
    for (const name of ['slave-1', 'slave-200', 'slave-300']) {
      const lines = readJsonLines(join(outDir, `${name}.jsonl`));
      expect(lines.length).toBeGreaterThan(10);
      expect(lines.every((line) => line.node === name)).toBe(true);
    }

    // The packs wrote their output to files of their own, removed once split.
    expect(readdirSync(outDir).filter((file) => file.endsWith('.pack.jsonl'))).toEqual([]);

    const info = JSON.parse(readFileSync(join(outDir, 'run.json'), 'utf8')) as RunInfo;
    // Four packs and the three targeted slaves, each sampled at the end.
    expect(info.peakRss).toMatchObject({ slaveProcesses: 7 });
    expect(info.peakRss!.masterBytes).toBeGreaterThan(10 * 2 ** 20);
    expect(info.peakRss!.slaveMaxBytes).toBeGreaterThan(10 * 2 ** 20);
    const { slaveTotalBytes, slaveMaxBytes } = info.peakRss!;
    expect(slaveTotalBytes).toBeGreaterThanOrEqual(slaveMaxBytes);
    expect(slaveTotalBytes).toBeLessThanOrEqual(7 * slaveMaxBytes);
  });
});
