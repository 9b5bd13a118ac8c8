#!/usr/bin/env node
// Runs two builds of `picluster check` on the same run directories and
// compares what each writes, byte for byte: the table on stdout, stderr, the
// exit code, report.json and junit.xml. For a change to the checker that must
// not change a verdict or a report (a faster or leaner checker):
//
//   node scripts/compare-check.mjs OLD/dist/cli/main.js dist/cli/main.js test/fixtures/runs/* RUN-DIR…
//
// Each check runs on its own copy of the directory, so the reports one build
// writes cannot be read by the other, and the originals are left untouched.
// Exits 1 when any directory differs, naming the first differing output.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const [oldCli, newCli, ...dirs] = process.argv.slice(2);
if (oldCli === undefined || newCli === undefined || dirs.length === 0) {
  console.error('usage: node scripts/compare-check.mjs OLD-CLI NEW-CLI RUN-DIR…');
  process.exit(2);
}

/** What one build of the checker makes of a copy of `dir`. */
function check(cli, dir, scratch) {
  const copy = join(scratch, basename(dir));
  cpSync(dir, copy, { recursive: true });
  for (const file of ['report.json', 'junit.xml']) rmSync(join(copy, file), { force: true });
  const result = spawnSync(process.execPath, [cli, 'check', copy], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const read = (file) => (existsSync(join(copy, file)) ? readFileSync(join(copy, file), 'utf8') : '(none)');
  // The copy's path appears in the output; the same placeholder for both builds.
  const same = (text) => text.split(copy).join('<run-dir>');
  return {
    code: String(result.status),
    stdout: same(result.stdout),
    stderr: same(result.stderr),
    'report.json': read('report.json'),
    'junit.xml': same(read('junit.xml')),
  };
}

let differing = 0;
for (const dir of dirs) {
  const scratch = mkdtempSync(join(tmpdir(), 'compare-check-'));
  try {
    const before = check(oldCli, dir, join(scratch, 'old'));
    const after = check(newCli, dir, join(scratch, 'new'));
    const diff = Object.keys(before).find((key) => before[key] !== after[key]);
    const verdict = /VERDICT: (\w+)/.exec(after.stdout)?.[1] ?? `exit ${after.code}`;
    if (diff === undefined) {
      console.log(`same      ${dir} (${verdict}, report.json ${after['report.json'].length} bytes)`);
    } else {
      differing += 1;
      console.log(`DIFFERENT ${dir}: ${diff}`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
console.log(`${dirs.length - differing} of ${dirs.length} directories judged the same`);
process.exitCode = differing === 0 ? 0 : 1;
