import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFilesLimits } from '../../src/orchestrator/local/descriptors';
import { NodeProcess } from '../../src/orchestrator/local/node-process';
import { CLI, SPAWN_TEST_TIMEOUT_MS } from '../helpers/cli';

jest.setTimeout(SPAWN_TEST_TIMEOUT_MS);

describe('NodeProcess', () => {
  it('starts a node under the open-files limit it is given, and reads its peak RSS', async () => {
    const limits = openFilesLimits()!;
    // Another limit than the runner's, within its hard limit: raising or lowering, `ulimit` applies it.
    const maxOpenFiles = Math.min(limits.soft, limits.hard) - 7;
    const output: string[] = [];
    const master = new NodeProcess('master', CLI, ['master', '--port', '0', '--host', '127.0.0.1'], {
      token: 'x'.repeat(32),
      stdout: { lines: (lines) => output.push(lines) },
      maxOpenFiles,
    });
    try {
      const listening = await master.waitForLine((line) => line.event === 'listening', 'listening line', 20_000);
      expect(listening.auth).toBe('token');
      const soft = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${master.pid}/limits`, 'utf8'))?.[1];
      expect(Number(soft)).toBe(maxOpenFiles);
      // The node itself, not a shell: its command line is the CLI's.
      expect(readFileSync(`/proc/${master.pid}/cmdline`, 'utf8')).toContain(CLI);
      expect(await master.peakRssBytes()).toBeGreaterThan(10 * 2 ** 20);
      // Starting Node alone takes tens of ms of CPU: more than one 10 ms tick.
      expect(await master.cpuMs()).toBeGreaterThan(10);
    } finally {
      await master.terminate(5000, 10_000);
    }
    expect(await master.peakRssBytes()).toBeUndefined();
    expect(await master.cpuMs()).toBeUndefined();
    expect(output.join('')).toContain('"event":"shutdown"');
  });

  it('with a file stdout, leaves the output to the node and still finds its lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-node-'));
    const file = join(dir, 'master.jsonl');
    const master = new NodeProcess('master', CLI, ['master', '--port', '0', '--host', '127.0.0.1'], {
      token: 'x'.repeat(32),
      stdout: { file },
    });
    try {
      const listening = await master.waitForLine((line) => line.event === 'listening', 'listening line', 20_000);
      expect(listening.port).toBeGreaterThan(0);
      expect(master.child.stdout).toBeNull();
      await master.terminate(5000, 10_000);
      const events = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { event: string }).event);
      expect(events[0]).toBe('listening');
      expect(events).toContain('shutdown');
    } finally {
      await master.terminate(5000, 10_000);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
