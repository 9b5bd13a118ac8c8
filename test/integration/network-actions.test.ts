import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenario } from '../../src/orchestrator';
import { LocalBackend } from '../../src/orchestrator/local/local-backend';
import type { TimelineEntry } from '../../src/orchestrator/types';
import { CLI } from '../helpers/cli';
import { countMessages } from '../helpers/message-count';
import { expectScenarioPasses } from '../helpers/scenario-run';

const EXAMPLE = join(__dirname, '..', 'fixtures', 'scenarios', 'network-example.yaml');

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'picluster-network-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('network actions on the local backend', () => {
  it("runs the issue's example as written: every action passes, and an independent count finds every message once", async () => {
    const scenario = loadScenario(EXAMPLE);
    const result = await expectScenarioPasses(scenario, new LocalBackend({ cliPath: CLI }), join(tmp, 'run'));
    const timeline = readFileSync(join(result.runDir, 'timeline.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as TimelineEntry);
    expect(new Set(timeline.map((entry) => entry.action))).toEqual(
      new Set(['delay', 'loss', 'bandwidth', 'slice', 'reset', 'partition', 'degrade', 'heal']),
    );
    expect(timeline.every((entry) => entry.confirmedAt !== undefined)).toBe(true);
    // The slices of 3 bytes cut every frame of slave-4 and slave-5 across segments.
    expect(timeline.find((entry) => entry.action === 'slice')?.link).toEqual({
      direction: 'both',
      shape: { sliceBytes: 3 },
    });
    const count = countMessages(result.runDir);
    expect(count.sent).toBeGreaterThan(7 * 40);
    expect({ missing: count.missing, duplicated: count.duplicated, unexpected: count.unexpected }).toEqual({
      missing: [],
      duplicated: [],
      unexpected: [],
    });
    // The reset of slave-5 was logged with its reason, and the node came back.
    const resets = result.report.expectations.filter((e) => e.fault.action === 'reset');
    expect(resets.map((e) => [e.check, e.status, e.seen?.reason])).toEqual([
      ['disconnect', 'pass', 'reset'],
      ['recovery', 'pass', undefined],
    ]);
  }, 120_000);
});
