#!/usr/bin/env bash
# The test command of the README: the whole suite, real processes on loopback.
set -uo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q "$@"
status=$?
if [ "$status" -eq 5 ]; then
  # pytest's 5 means no test was collected: a broken layout, never a pass.
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
