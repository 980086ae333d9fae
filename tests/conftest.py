import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("JSEG_RET_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
sys.path.insert(0, ROOT)

# Prepare Jittor (CPU fallback, oneDNN) before any test module imports it.
import jseg_ret  # noqa: E402,F401


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs an NVIDIA GPU; skipped without one")
    config.addinivalue_line("markers", "torch: needs PyTorch (the test extra)")
    config.addinivalue_line("markers", "slow: takes more than ~30 s on the 2-core CPU machine")
    config.addinivalue_line("markers", "mpi: needs OpenMPI (mpirun)")


@pytest.fixture(scope="session")
def shared_dir():
    if not os.path.isdir(SHARED):
        pytest.fail(f"shared/ not found at {SHARED} (set JSEG_RET_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def repo_root():
    return ROOT
