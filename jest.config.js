// Jest projects by cost: unit, integration, e2e (real Docker) and browser
// (headless Chromium). The e2e project runs when a Docker engine answers, the
// browser project when a Chromium is found; with REQUIRE_DOCKER=1 or
// REQUIRE_BROWSER=1 a missing one is an error, never a silent skip.
const { spawnSync } = require('node:child_process');
const { findChromium } = require('./scripts/find-chromium');

/** @type {import('jest').Config['transform']} */
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }] };

const project = (name, extra = {}) => ({
  displayName: name,
  testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
  transform,
  testEnvironment: 'node',
  ...extra,
});

function dockerAnswers() {
  const result = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 15000 });
  return result.status === 0 ? { ok: true } : { ok: false, why: (result.stderr || result.error?.message || '').trim() };
}

const projects = [project('unit'), project('integration')];
const docker = dockerAnswers();
if (docker.ok) {
  projects.push(project('e2e', { slowTestThreshold: 300 }));
} else if (process.env.REQUIRE_DOCKER === '1') {
  throw new Error(`REQUIRE_DOCKER=1 but no Docker engine answers (${docker.why}); run scripts/setup-docker.sh`);
} else {
  process.stderr.write(
    `picluster: e2e tests (test/e2e) NOT run: no Docker engine answers (${docker.why.split('\n')[0]}). ` +
      'Run scripts/setup-docker.sh, or set REQUIRE_DOCKER=1 to make this an error.\n',
  );
}

const chromium = findChromium();
if (chromium.ok) {
  // The tests launch this one: test/helpers/browser.ts reads it (workers inherit the environment).
  process.env.PICLUSTER_CHROMIUM = chromium.path;
  projects.push(project('browser', { slowTestThreshold: 120 }));
} else if (process.env.REQUIRE_BROWSER === '1') {
  throw new Error(`REQUIRE_BROWSER=1 but no browser is found (${chromium.why}); run scripts/setup-browser.sh`);
} else {
  process.stderr.write(
    `picluster: browser tests (test/browser) NOT run: ${chromium.why}. ` +
      'Run scripts/setup-browser.sh (or set PICLUSTER_CHROMIUM), or set REQUIRE_BROWSER=1 to make this an error.\n',
  );
}

// Jest's default of 5 s is a flake on a busy 2-core machine (an exhaustive unit
// test took longer at load 22): a test that waits on a timeout says so itself.
// A global option: a project's own `testTimeout` is ignored.
module.exports = { projects, testTimeout: 30_000 };
