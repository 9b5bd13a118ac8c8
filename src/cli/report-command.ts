import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { escapeControl } from '../common';
import { RunDirectoryError, checkRun, openRunDirectory, writeHtmlReport, type CheckReport } from '../orchestrator';
import { defineCommand, oneRunDirectory, parseCommand } from './flags';

export const REPORT_COMMAND = defineCommand({
  name: 'report',
  usage: 'picluster report <run-dir> [--open]',
  summary: "Write a run directory's report.html again (tables and space-time diagram); --open shows it.",
  flags: [
    {
      flag: 'open',
      kind: 'boolean',
      description: 'Open report.html in the default browser (xdg-open, or open on macOS) once it is written',
    },
  ],
  notes: [
    'Checks the run again, as "picluster check" does, and writes only report.html from that verdict and the',
    'logs; report.json and junit.xml are left as they are. The page is one file with nothing to fetch: it opens',
    'from disk, offline. Prints its path.',
    'Exit codes: 0 the page was written (whatever the verdict; "picluster check" exits by the verdict), 2 the run',
    'directory cannot be read, the page cannot be written, --open finds no opener, or a usage error.',
  ].join('\n'),
});

/** The program that opens a file in the default browser, per platform. */
const OPENERS: Readonly<Partial<Record<NodeJS.Platform, string>>> = { darwin: 'open', win32: 'explorer.exe' };
const DEFAULT_OPENER = 'xdg-open';

/** `name`'s path when an executable of that name is on `path` (`PATH`), else undefined. */
function onPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** Starts `opener file`, detached, and resolves once it started; rejects when it could not. */
async function startOpener(opener: string, file: string, env: NodeJS.ProcessEnv): Promise<void> {
  const child = spawn(opener, [file], { detached: true, stdio: 'ignore', env });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  // The browser outlives this command.
  child.unref();
}

export async function runReport(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number | 'help'> {
  const { values, positionals, help } = parseCommand(REPORT_COMMAND, argv, env, true);
  if (help) return 'help';
  const dir = oneRunDirectory(REPORT_COMMAND, positionals);
  let report: CheckReport;
  let file: string;
  try {
    report = checkRun(await openRunDirectory(dir));
    file = await writeHtmlReport(dir, report);
  } catch (error) {
    const why = error instanceof RunDirectoryError ? `${error.message} (${error.code})` : (error as Error).message;
    err.write(`picluster report: cannot write report.html for ${escapeControl(`${dir}: ${why}`)}\n`);
    return 2;
  }
  out.write(`Wrote ${file} (verdict ${report.verdict})\n`);
  if (!values.open) return 0;
  const name = OPENERS[process.platform] ?? DEFAULT_OPENER;
  const opener = onPath(name, env.PATH);
  if (opener === undefined) {
    err.write(
      `picluster report: cannot open the page: no "${name}" on PATH (install xdg-utils, or open ${escapeControl(file)} in a browser)\n`,
    );
    return 2;
  }
  try {
    await startOpener(opener, file, env);
  } catch (error) {
    err.write(`picluster report: cannot start ${escapeControl(`${opener}: ${(error as Error).message}`)}\n`);
    return 2;
  }
  return 0;
}
