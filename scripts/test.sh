#!/usr/bin/env bash
# The whole test suite (unit, rendering, and the network-namespace lab tests, which need root).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not lab"`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/mypy

# pytest exits 5 when no test was collected (e.g. a filter that matches nothing): not a failure here.
pytest_status() {
  local status=$1 what=$2
  if [[ $status -eq 5 ]]; then
    echo "test.sh: no $what tests collected" >&2
    return 0
  fi
  return "$status"
}

if [[ $# -gt 0 ]]; then
  status=0
  .venv/bin/pytest -q "$@" || status=$?
  pytest_status "$status" selected
  exit $?
fi

# The whole suite in two pytest runs side by side: the lab tests one at a time (labs share fixed
# namespace names and one management subnet), which mostly wait on daemons and timers, and beside them
# everything else, whose output follows the lab run's. Together they take about the lab tests' time.
others_log=$(mktemp /tmp/vxauto-test-others.XXXXXX)
.venv/bin/pytest -q -m "not lab" -p no:cacheprovider --durations=15 > "$others_log" 2>&1 &
others=$!
trap 'kill "$others" 2>/dev/null || true' EXIT
lab_status=0
.venv/bin/pytest -q -m lab --durations=25 || lab_status=$?
others_status=0
wait "$others" || others_status=$?
trap - EXIT
echo "=== the tests that need no lab (run beside the lab tests) ==="
cat "$others_log"
rm -f "$others_log"
status=0
pytest_status "$lab_status" lab || status=1
pytest_status "$others_status" "non-lab" || status=1
exit $status
