#!/usr/bin/env bash
# The whole test suite (unit, rendering, and the network-namespace lab tests, which need root).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not lab"`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/mypy
status=0
.venv/bin/pytest -q "$@" || status=$?
# pytest exits 5 when no test was collected (e.g. a filter that matches nothing): not a failure here.
if [[ $status -eq 5 ]]; then
  echo "test.sh: no tests collected"
  status=0
fi
exit $status
