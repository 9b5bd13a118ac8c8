/**
 * The report files of a run directory: `report.json`, `junit.xml` and
 * `report.html`, as the runner and `picluster check` write them.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { CheckReport } from './check-result';
import { toJUnitXml } from './junit';
import { htmlReport } from './report-html';
import { RUN_FILES } from './run-directory';

/** Files `writeReports` puts into a run directory. */
export const REPORT_FILES = { json: 'report.json', junit: 'junit.xml', html: 'report.html' } as const;

/** What {@link writeReports} writes. */
export interface WriteReportsOptions {
  /**
   * `report.html`, drawn from the run directory's logs: `true` always (a
   * directory without a run is an error), `false` never. Default: when the
   * directory holds a run (its `run.json`), as it does for the runner and
   * `picluster check`; a bare directory gets the other two files only.
   */
  html?: boolean;
}

/** Writes `report.json`, `junit.xml` and `report.html` into the run directory; returns their paths. */
export async function writeReports(
  dir: string,
  report: CheckReport,
  options: WriteReportsOptions = {},
): Promise<string[]> {
  const json = join(dir, REPORT_FILES.json);
  const junit = join(dir, REPORT_FILES.junit);
  await writeFile(json, JSON.stringify(report, null, 2) + '\n');
  await writeFile(junit, toJUnitXml(report, basename(resolve(dir))));
  if (!(options.html ?? existsSync(join(dir, RUN_FILES.info)))) return [json, junit];
  return [json, junit, await writeHtmlReport(dir, report)];
}

/** Writes `report.html` into the run directory `dir`, judged as `report`; returns its path. */
export async function writeHtmlReport(dir: string, report: CheckReport): Promise<string> {
  const html = join(dir, REPORT_FILES.html);
  await writeFile(html, await htmlReport(dir, report));
  return html;
}
