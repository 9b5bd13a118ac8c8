import type { CheckReport } from '../check-result';
import { openRunDirectory } from '../run-directory';
import { buildHtmlModel } from './model';
import { renderHtml } from './page';

/**
 * `report.html` of the run directory `dir`, judged as `report`: its logs are
 * read again (streamed) to draw every message.
 */
export async function htmlReport(dir: string, report: CheckReport): Promise<string> {
  const source = await openRunDirectory(dir);
  return renderHtml(buildHtmlModel(source, report), report);
}
