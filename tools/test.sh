#!/usr/bin/env bash
# Install (idempotent), lint, then run the whole test suite. Exit code = the suite's, or
# ruff's when the lint fails (pytest does not run then).
# Extra arguments go to pytest (e.g. bash tools/test.sh -k config).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash tools/install.sh || { echo "[test] install failed" >&2; exit 1; }
echo "[test] ruff check . ($($PY -m ruff --version); configured in pyproject.toml)"
$PY -m ruff check .
rc=$?
if [ $rc -ne 0 ]; then
  echo "[test] lint failed (ruff exit $rc): fix the violations above, then rerun;" \
       "'ruff check --fix .' fixes those marked [*]. pytest was not run." >&2
  exit $rc
fi
$PY -m pytest tests "$@"
