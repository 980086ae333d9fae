"""The CUDA retention kernel without a GPU: it must compile with nvcc (so CI catches syntax and
template errors), and its kernels, run under a CPU emulation of the CUDA features they use
(tests/cuda/cuda_emulation.h), must match a float64 reference. The GPU itself is tested in
tests/cuda/test_retention_cuda.py."""
import os
import re
import shutil
import subprocess

import pytest

from tests.helpers.paths import ROOT

KERNEL = os.path.join(ROOT, "jseg_ret", "ops", "kernels", "retention_cuda.cu")
EMULATOR = os.path.join(ROOT, "tests", "cuda", "emulate_retention.cc")

# Explicit instantiations: templates are only fully checked (and their host launch code only
# generated) once instantiated. Same entry points and dtypes as Jittor's cuda_src calls.
TRANSLATION_UNIT = """
#include "{kernel}"
namespace jseg_retention_cuda {{
#define FWD(T) template cudaError_t forward<T>(const T*, const T*, const T*, const float*, T*, \\
    float*, int, int, int, int, int, int);
#define BWD(T) template cudaError_t backward<T>(const T*, const T*, const T*, const float*, \\
    const T*, const float*, const T*, T*, T*, T*, float*, int, int, int, int, int, int);
FWD(float) FWD(__half) BWD(float) BWD(__half)
}}
"""


def find_nvcc():
    return shutil.which("nvcc") or next(
        (p for p in ("/usr/local/cuda/bin/nvcc", "/usr/local/bin/nvcc") if os.access(p, os.X_OK)),
        None)


def test_kernel_source_has_no_at_sign():
    # Jittor's code-op preprocessor expands '@' in the header it is given
    with open(KERNEL, encoding="utf-8") as f:
        assert "@" not in f.read()


def test_cuda_source_compiles_with_nvcc(tmp_path):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("no nvcc")
    tu = tmp_path / "retention_tu.cu"
    tu.write_text(TRANSLATION_UNIT.format(kernel=KERNEL))
    # Jittor's flags: C++14 and fast math. sm_80 is supported by CUDA 11.0 through 13.
    cmd = [nvcc, "-c", "-std=c++14", "--use_fast_math", "-arch=sm_80", "-Xptxas", "-v",
           "-Werror", "all-warnings", "-o", str(tmp_path / "retention.o"), str(tu)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout}\n{res.stderr}"
    assert (tmp_path / "retention.o").stat().st_size > 0
    # register spills would mean a tile configuration needs retuning
    spills = re.findall(r"(\d+) bytes spill stores", res.stdout + res.stderr)
    assert spills and all(s == "0" for s in spills), res.stderr


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("no g++ for the CUDA emulation")
    exe = tmp_path_factory.mktemp("emu") / "emulate_retention"
    cmd = [cxx, "-std=c++20", "-O2", "-pthread", "-Wall", "-Werror", "-Wno-unknown-pragmas",
           "-o", str(exe), EMULATOR]  # g++ does not know "#pragma unroll"
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stderr}"
    return str(exe)


# B N H W d e dtype logit-std: every tile configuration (padded head dim 32 / 64 / 128), shapes
# that do not tile evenly and span several tiles, e != d, 1-D (H=1) and float16.
EMULATED = [
    ("2 2 7 9 16 16 f32 3", 1e-5),
    ("2 2 7 9 48 32 f32 10", 1e-5),
    ("1 2 11 14 64 64 f32 3", 1e-5),
    ("1 1 5 13 100 128 f32 3", 1e-5),
    ("3 1 1 150 20 12 f32 3", 1e-5),
    ("2 2 7 9 48 32 f16 3", 2e-3),
    ("1 1 5 13 128 64 f16 3", 2e-3),
]


@pytest.mark.parametrize("args,tol", EMULATED, ids=[a for a, _ in EMULATED])
def test_cuda_kernels_match_reference_under_emulation(emulator, args, tol):
    seed = int.from_bytes(os.urandom(3), "little")
    res = subprocess.run([emulator] + args.split() + [str(seed), "0"], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    errors = dict(re.findall(r"(\w+)=([0-9.e+-]+)", res.stdout))
    assert set(errors) == {"o", "dq", "dk", "dv", "lse"}, res.stdout
    bad = {k: float(v) for k, v in errors.items() if not float(v) <= tol}
    assert not bad, f"{args} seed {seed}: rel errors above {tol}: {bad}"
