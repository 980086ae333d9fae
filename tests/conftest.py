"""Test-suite setup; pytest.ini holds the rest.

Imports: pytest.ini puts the checkout (`.`, first, so that its jseg_ret wins over an installed
one) and tools/ on sys.path (`pythonpath = . tools`), so tests import ``jseg_ret``, the tools
(``import run_net``) and the shared helpers (``from tests.helpers.tiny import TINY``) with no
sys.path edits. Every test folder is a package (``__init__.py``) under the default
``prepend`` import mode: modules are named by their path (tests.unit.models.test_frm), so
basenames may repeat across folders. A subprocess gets the same paths through
tests.helpers.paths.subprocess_env().

Jittor: ``import jseg_ret`` must come before the first ``import jittor`` (jseg_ret.runtime picks
CPU or CUDA and points Jittor at the system oneDNN). It happens here, once, before pytest imports
any test module, so test files import jittor and jseg_ret in any order. Scripts run as their own
process (tests/unit/engine/mpi_*worker.py) still import jseg_ret first themselves.
"""
import os

import pytest

import jseg_ret  # noqa: F401  (first: prepares Jittor)
from tests.helpers.paths import ROOT, SHARED


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
