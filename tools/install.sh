#!/usr/bin/env bash
# Install jseg_ret with its test extras and the system libraries it uses. Idempotent.
#   - Debian's libdnnl-dev: oneDNN for fast CPU convolutions/matmuls (~100x Jittor's fallback)
#   - OpenMPI (openmpi-bin, libopenmpi-dev): multi-process training through Jittor's MPI
#   - pip install -e ".[test,vis]" (pytest, torch==2.13.0 pinned for parity tests, ruff pinned for
#     tools/test.sh's lint step; tensorboardX, tensorboard and matplotlib for TensorBoard logging
#     and the analysis tools). Reinstalled when any is missing or ruff is not the pinned version.
#   - warms Jittor's compile cache (its core compiles on first import, ~3 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

missing=()
[ -f /usr/include/dnnl.hpp ] || [ -f /usr/include/oneapi/dnnl/dnnl.hpp ] || missing+=(libdnnl-dev)
command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
[ -f /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h ] || [ -f /usr/include/mpi.h ] \
  || command -v mpicc >/dev/null 2>&1 || missing+=(libopenmpi-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "[install] apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "[install] warning: apt-get not available; install ${missing[*]} yourself" >&2
  fi
fi

# The ruff pin lives in pyproject.toml's [test] extra ("ruff==X"): read it from there.
RUFF_VERSION=$(sed -n 's/.*"ruff==\([^"]*\)".*/\1/p' pyproject.toml)
[ -n "$RUFF_VERSION" ] || { echo "[install] no \"ruff==X\" pin in pyproject.toml" >&2; exit 1; }
if ! $PY -c "import jseg_ret" >/dev/null 2>&1 || \
   ! $PY -m pip show jseg_ret >/dev/null 2>&1 || \
   ! $PY -c "import torch, pytest, tensorboardX, tensorboard, matplotlib" >/dev/null 2>&1 || \
   [ "$($PY -m ruff --version 2>/dev/null)" != "ruff $RUFF_VERSION" ]; then
  echo "[install] pip install -e .[test,vis]"
  $PY -m pip install -q -e ".[test,vis]"
fi

echo "[install] warming Jittor's compile cache (first run compiles Jittor's core: minutes)"
$PY - <<'PYEOF'
import time
t = time.time()
import jseg_ret
from jseg_ret import runtime
import jittor as jt
x = jt.ones((1, 4, 8, 8))
jt.nn.Conv2d(4, 4, 3, padding=1)(x).sync()
print(f"[install] jittor {jt.__version__} ready on {runtime.device()} "
      f"(oneDNN: {runtime.state['onednn']}) in {time.time() - t:.1f}s")
PYEOF
