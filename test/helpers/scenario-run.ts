import { formatTable, runScenario, type Backend, type RunResult, type Scenario } from '../../src/orchestrator';

/**
 * Runs `scenario` on `backend` into `outDir`, as `picluster run` does without
 * its progress lines, and expects it to pass: every action carried out and
 * confirmed, and the verdict PASS. A verdict that is not PASS fails the test
 * with the report's table, which says why. Resolves with the result, for
 * what else the test checks.
 */
export async function expectScenarioPasses(scenario: Scenario, backend: Backend, outDir: string): Promise<RunResult> {
  const result = await runScenario(scenario, { backend, outDir, progress: false });
  expect(result.complete).toBe(true);
  if (result.report.verdict !== 'pass') {
    throw new Error(`verdict ${result.report.verdict}:\n${formatTable(result.report)}`);
  }
  expect(result.report.verdict).toBe('pass');
  return result;
}
