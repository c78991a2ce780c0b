#!/usr/bin/env bash
# Runs the three vitest projects in order: unit, replay, integration. Every phase runs even when an
# earlier one failed, so one run shows everything that is broken; the exit code is non-zero if any
# phase failed. The integration phase needs root and the tools scripts/bootstrap.sh installs.
#
#   bash scripts/test.sh [phase...]   phases: unit replay integration (default: all three, in that order)
#   npm test                          runs scripts/bootstrap.sh first, then all three
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
logs=.tools/test-logs
mkdir -p "$logs"
phases=(unit replay integration)
if (($# > 0)); then
  for phase in "$@"; do
    [[ " ${phases[*]} " == *" $phase "* ]] || {
      echo "test: unknown phase '$phase' (expected some of: ${phases[*]})" >&2
      exit 2
    }
  done
  phases=("$@")
fi
declare -A outcome
running=''

# Pass a cancellation on to vitest, so its teardown stops the servers and workers the suites started.
# shellcheck disable=SC2329 # called by the trap below
forward_signal() {
  if [[ -n $running ]]; then
    kill -TERM "$running" 2>/dev/null
    wait "$running"
  fi
  exit 130
}
trap forward_signal INT TERM

header() {
  echo
  echo "=================================================================================="
  echo "== $*"
  echo "=================================================================================="
}

for phase in "${phases[@]}"; do
  header "phase: $phase (vitest run --project $phase)"
  if [[ $phase == integration && $EUID -ne 0 ]]; then
    echo "the integration tests need root (loop devices, XFS mounts, podman); run as root" |
      tee "$logs/$phase.log"
    outcome[$phase]="FAILED (not root)"
    continue
  fi

  started=$(date +%s)
  node_modules/.bin/vitest run --project "$phase" > >(tee "$logs/$phase.log") 2>&1 &
  running=$!
  wait "$running"
  status=$?
  running=''
  # Also waits for tee to write the last lines of the log.
  wait
  seconds=$(($(date +%s) - started))
  if ((status == 0)); then
    outcome[$phase]="passed in ${seconds}s"
  else
    outcome[$phase]="FAILED (exit $status) after ${seconds}s"
  fi
done

header "summary (full output in $logs/)"
failed=0
for phase in "${phases[@]}"; do
  echo "-- $phase: ${outcome[$phase]}"
  # vitest's own summary lines, without colour codes.
  sed -e 's/\x1b\[[0-9;]*m//g' "$logs/$phase.log" |
    grep -E '^ *(Test Files|Tests|Errors|Start at|Duration) ' | sed 's/^/   /'
  [[ ${outcome[$phase]} == passed* ]] || failed=1
done
exit "$failed"
