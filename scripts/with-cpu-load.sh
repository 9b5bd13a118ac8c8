#!/usr/bin/env bash
# Runs a command next to CPU-bound busy processes, as on a busy CI machine, and
# stops them afterwards whatever happens (exit, error, Ctrl-C).
#   scripts/with-cpu-load.sh picluster run scenarios/*.yaml --backend local
# Env: CPU_LOAD_PROCS (default 2) - how many busy processes.
# Exits with the command's exit code.
set -euo pipefail

procs=${CPU_LOAD_PROCS:-2}
[[ $procs =~ ^[0-9]+$ ]] || {
  echo "with-cpu-load: CPU_LOAD_PROCS must be a whole number, got '$procs'" >&2
  exit 2
}
(($# > 0)) || {
  echo "usage: scripts/with-cpu-load.sh COMMAND [ARG...]" >&2
  exit 2
}

pids=()
stop_load() {
  ((${#pids[@]} == 0)) && return
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap stop_load EXIT
trap 'stop_load; exit 130' INT
trap 'stop_load; exit 143' TERM

for ((i = 0; i < procs; i++)); do
  # A shell loop: no allocation, no I/O, one core each.
  sh -c 'while :; do :; done' &
  pids+=($!)
done
echo "with-cpu-load: $procs busy processes (pids ${pids[*]}) while: $*" >&2

status=0
"$@" || status=$?
stop_load
exit "$status"
