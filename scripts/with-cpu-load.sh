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
child=''
# A command started in the background ignores SIGINT (bash does that to
# background jobs): pass an interruption on as SIGTERM, which picluster run and
# jest handle as Ctrl-C, and wait for the command to stop its nodes.
interrupt() {
  [[ -n $child ]] && kill -TERM "$child" 2>/dev/null && wait "$child" 2>/dev/null
  stop_load
  exit "$1"
}
trap stop_load EXIT
trap 'interrupt 130' INT
trap 'interrupt 143' TERM

for ((i = 0; i < procs; i++)); do
  # A shell loop, one core each; it stops by itself once this script is gone, even if
  # SIGKILLed (no trap runs then). `kill -0` is a builtin: the loop stays CPU-bound.
  sh -c 'while kill -0 "$1" 2>/dev/null; do :; done' busy $$ &
  pids+=($!)
done
echo "with-cpu-load: $procs busy processes (pids ${pids[*]}) while: $*" >&2

status=0
# In the background and waited for, so that a signal to this script is handled at
# once (bash runs traps only between foreground commands).
"$@" &
child=$!
wait "$child" || status=$?
child=''
stop_load
exit "$status"
