#!/usr/bin/env bash
# Installs the browser the browser tests (test/browser) and
# scripts/check-reports.mjs drive: Debian's `chromium` package, headless through
# playwright-core, which downloads no browser of its own. Safe to rerun: when
# chromium is already installed it says so and only prints the version.
# Env: PICLUSTER_CHROMIUM - a browser to use instead; it must run, nothing is installed.
set -euo pipefail

readonly PACKAGES=(chromium)

log() { printf '[setup-browser] %s\n' "$*"; }
skip() { printf '[setup-browser] skip: %s\n' "$*"; }
die() {
  printf '[setup-browser] error: %s\n' "$*" >&2
  exit 1
}

if [[ -n ${PICLUSTER_CHROMIUM:-} ]]; then
  [[ -x $PICLUSTER_CHROMIUM ]] || die "PICLUSTER_CHROMIUM=$PICLUSTER_CHROMIUM is not an executable file"
  skip "PICLUSTER_CHROMIUM is set: nothing to install"
  log "$("$PICLUSTER_CHROMIUM" --version 2>/dev/null)"
  exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f '${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "must run as root to install: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  log "apt-get update"
  apt-get update -qq
  log "installing: ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  skip "already installed: ${PACKAGES[*]}"
fi

command -v chromium >/dev/null || die "chromium is installed but not on PATH"
# The Debian launcher script may print shell noise on stderr; the version is on stdout.
log "$(chromium --version 2>/dev/null)"
log "done"
