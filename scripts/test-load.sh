#!/usr/bin/env bash
# Runs the unit + integration suites RUNS times (default 5) while two
# CPU-bound processes keep two cores busy, as on a loaded CI machine: a test
# that only passes on an idle machine fails here. Extra arguments go to jest.
# Prints each run's verdict and time, then the count; exits 1 if any run failed.
# Usage: RUNS=5 scripts/test-load.sh [jest args...]
set -euo pipefail

runs=${RUNS:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || {
  echo "RUNS must be a positive integer, got \"$runs\"" >&2
  exit 2
}
cd "$(dirname "$0")/.."

busy=()
jest=''

# Every descendant of process $1, by parent pid: the scenario tests start
# nodes in sessions of their own, out of reach of a signal to jest's group.
descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    echo "$child"
    descendants "$child"
  done
}

cleanup() {
  # A run cut short (Ctrl-C, kill) takes jest's whole process tree with it.
  if [[ -n $jest ]] && kill -0 "$jest" 2>/dev/null; then
    local tree
    tree=$(descendants "$jest")
    # shellcheck disable=SC2086 # one pid per word
    kill -TERM "$jest" $tree 2>/dev/null || true
    for _ in {1..20}; do
      # shellcheck disable=SC2086
      kill -0 "$jest" $tree 2>/dev/null || break
      sleep 0.25
    done
    # shellcheck disable=SC2086
    kill -KILL "$jest" $tree 2>/dev/null || true
  fi
  for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for _ in 1 2; do
  # Each also stops by itself once this script is gone, even if SIGKILLed
  # (no trap runs then); `kill -0` is a shell builtin, so the loop stays CPU-bound.
  sh -c 'while kill -0 "$1" 2>/dev/null; do :; done' busy $$ &
  busy+=($!)
done
echo "test-load: ${#busy[@]} busy processes (${busy[*]}), $runs runs"

passed=0
for ((run = 1; run <= runs; run++)); do
  started=$SECONDS
  # In the background and waited for, so that a signal to this script is
  # handled at once: bash runs traps only between foreground commands.
  npx jest --selectProjects unit integration "$@" &
  jest=$!
  if wait "$jest"; then
    verdict=PASS
    passed=$((passed + 1))
  else
    verdict=FAIL
  fi
  jest=''
  echo "test-load: run $run/$runs: $verdict ($((SECONDS - started)) s)"
done

echo "test-load: $passed/$runs runs passed under ${#busy[@]} busy processes"
((passed == runs))
