import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The doctored and clean run directories of test/fixtures/runs. */
export const RUN_FIXTURES = join(__dirname, '..', 'fixtures', 'runs');

/**
 * Gives each test of the calling `describe` a fresh copy of the fixture run
 * `fixture` in a directory named after `prefix` (through `onDir`, before the
 * test), and removes it after the test: a check writes its reports into it.
 */
export function useScratchRun(prefix: string, onDir: (dir: string) => void, fixture = 'clean'): void {
  let dir: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    cpSync(join(RUN_FIXTURES, fixture), dir, { recursive: true });
    onDir(dir);
  });
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
}
