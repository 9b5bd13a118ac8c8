import { readFileSync } from 'node:fs';
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
      output: (lines) => output.push(lines),
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
});
