"""Running 2 ranks with OpenMPI on CPU."""
import os
import shutil

import numpy as np
import pytest

MPIRUN = shutil.which("mpirun")
# pytestmark of a module whose tests all need mpirun
REQUIRES_MPI = [pytest.mark.mpi,
                pytest.mark.skipif(MPIRUN is None, reason="OpenMPI not installed (mpirun)")]


def mpirun_cmd(ranks=2):
    """mpirun and its options for `ranks` processes (--oversubscribe: more ranks than cores)."""
    cmd = [MPIRUN, "-np", str(ranks), "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def load_npz(path):
    """name -> array of a rank's saved parameters."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files}
