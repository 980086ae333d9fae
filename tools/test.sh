#!/usr/bin/env bash
# Install (idempotent), then run the whole test suite. Exit code = the suite's.
# Extra arguments go to pytest (e.g. bash tools/test.sh -k config).
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh || { echo "[test] install failed" >&2; exit 1; }
${PYTHON:-python3} -m pytest tests "$@"
