// Finds the Chromium that the browser tests and scripts/check-reports.mjs drive
// through playwright-core (which downloads no browser): PICLUSTER_CHROMIUM when
// set, else `chromium` or `chromium-browser` on PATH (Debian's package,
// scripts/setup-browser.sh). Shared by jest.config.js and check-reports.mjs.
const { accessSync, constants } = require('node:fs');
const { delimiter, join } = require('node:path');
const { spawnSync } = require('node:child_process');

/** Names looked up on PATH, in order. */
const CHROMIUM_NAMES = ['chromium', 'chromium-browser'];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `{ ok: true, path, version }` for the browser found, or `{ ok: false, why }`.
 * The version is what `<path> --version` prints: a file that does not answer is
 * no browser.
 * @param {NodeJS.ProcessEnv} env
 */
function findChromium(env = process.env) {
  const candidates = env.PICLUSTER_CHROMIUM
    ? [env.PICLUSTER_CHROMIUM]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter((dir) => dir !== '')
        .flatMap((dir) => CHROMIUM_NAMES.map((name) => join(dir, name)));
  const path = candidates.find(executable);
  if (path === undefined) {
    return {
      ok: false,
      why: env.PICLUSTER_CHROMIUM
        ? `PICLUSTER_CHROMIUM=${env.PICLUSTER_CHROMIUM} is not an executable file`
        : `no ${CHROMIUM_NAMES.join(' or ')} on PATH`,
    };
  }
  const result = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 15000 });
  const version = (result.stdout ?? '').trim();
  if (result.status !== 0 || version === '') {
    return { ok: false, why: `${path} --version failed: ${(result.stderr || result.error?.message || '').trim()}` };
  }
  return { ok: true, path, version };
}

module.exports = { findChromium, CHROMIUM_NAMES };
