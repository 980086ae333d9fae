"""Prepare Jittor before it is imported.

Jittor decides at import time whether to compile for CUDA and where oneDNN lives; both decisions
are made from environment variables, so they must be set before the first ``import jittor``.
Every module of the package imports ``jseg_ret`` (and so this file) before Jittor.

- No usable NVIDIA GPU -> CPU (``nvcc_path=""``), even when a CUDA toolkit is installed: Jittor
  otherwise tries to build CUDA kernels at import and crashes on such machines.
- oneDNN: Jittor looks for it under ``~/.cache/jittor/mkl/dnnl_*`` and downloads its own copy if it
  is missing (which fails offline). Where the system has oneDNN (Debian's ``libdnnl-dev``) we
  place links there instead; where it has none we fall back to ``use_mkl=0`` with one warning.
- ``JSEG_RET_DEVICE=cpu|cuda`` overrides the detection.
"""
import ctypes
import glob
import os
import sys
import warnings
from pathlib import Path

DEVICE_ENV = "JSEG_RET_DEVICE"
# The directory name Jittor's installer checks before downloading (compile_extern.install_mkl).
_JITTOR_DNNL_DIR = "dnnl_lnx_2.2.0_cpu_gomp"
_SYSTEM_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                    "/usr/lib", "/usr/local/lib")
_SYSTEM_INCLUDE_DIRS = ("/usr/include", "/usr/local/include")

state = {"device": None, "onednn": None, "prepared": False}


def cuda_device_count():
    """Number of CUDA devices the driver reports (0 when there is no driver or no device).

    Asks the driver API directly (libcuda), which honours CUDA_VISIBLE_DEVICES, so a hidden GPU
    counts as absent. Nothing is compiled and no CUDA context is kept.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            if lib.cuInit(0) != 0:
                return 0
            count = ctypes.c_int(0)
            if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
                return 0
            return count.value
        except AttributeError:
            return 0
    return 0


def _jittor_home():
    # Same rule as jittor_utils.home(): $JITTOR_HOME, else the user's home.
    return os.environ.get("JITTOR_HOME") or str(Path.home())


def _find_system_onednn():
    """(include_dir, library_path) of a system oneDNN, or None."""
    include = next((d for d in _SYSTEM_INCLUDE_DIRS if os.path.isfile(os.path.join(d, "dnnl.hpp"))),
                   None)
    if include is None:
        return None
    for d in _SYSTEM_LIB_DIRS:
        libs = sorted(glob.glob(os.path.join(d, "libdnnl.so*")))
        if libs:
            return include, libs[0]
    return None


def prepare_onednn():
    """Point Jittor at a oneDNN; returns 'jittor-cache', 'system', 'disabled' or 'off-by-user'."""
    if os.environ.get("use_mkl") == "0":
        return "off-by-user"
    mkl_root = os.path.join(_jittor_home(), ".cache", "jittor", "mkl")
    target = os.path.join(mkl_root, _JITTOR_DNNL_DIR)
    if glob.glob(os.path.join(mkl_root, "dnnl*", "lib", "libmkldnn.so")):
        return "jittor-cache"
    found = _find_system_onednn()
    if found is None:
        os.environ["use_mkl"] = "0"
        warnings.warn(
            "jseg_ret: no oneDNN found, so Jittor's CPU convolutions and matrix products use its "
            "slow fallback (~100x slower). Install Debian/Ubuntu's 'libdnnl-dev' "
            "(apt-get install libdnnl-dev) or run tools/install.sh.", RuntimeWarning, stacklevel=3)
        return "disabled"
    include, lib = found
    os.makedirs(os.path.join(target, "lib"), exist_ok=True)
    inc_link = os.path.join(target, "include")
    lib_link = os.path.join(target, "lib", "libmkldnn.so")
    for link, dest in ((inc_link, include), (lib_link, lib)):
        if os.path.islink(link) and os.readlink(link) != dest:
            os.unlink(link)
        if not os.path.lexists(link):
            tmp = f"{link}.tmp{os.getpid()}"
            os.symlink(dest, tmp)
            os.replace(tmp, link)  # atomic: concurrent processes never see a half-made link
    return "system"


def select_device():
    """'cpu' or 'cuda' from $JSEG_RET_DEVICE or detection; sets nvcc_path for the CPU case."""
    wanted = os.environ.get(DEVICE_ENV, "auto").strip().lower() or "auto"
    if wanted not in ("auto", "cpu", "cuda"):
        raise ValueError(f"{DEVICE_ENV}={wanted!r}: expected one of 'cpu', 'cuda', 'auto'")
    n_gpu = cuda_device_count() if wanted != "cpu" else 0
    if wanted == "cuda" and n_gpu == 0:
        raise RuntimeError(f"{DEVICE_ENV}=cuda but no usable NVIDIA GPU was found "
                           "(libcuda missing, no device, or CUDA_VISIBLE_DEVICES hides it)")
    device = "cuda" if n_gpu > 0 else "cpu"
    if device == "cpu":
        # An empty nvcc_path keeps Jittor from compiling (and crashing on) CUDA kernels.
        os.environ["nvcc_path"] = ""
    return device


def prepare():
    """Run once before `import jittor`. Safe to call again."""
    if state["prepared"]:
        return state
    if "jittor" in sys.modules:
        # Too late to steer Jittor's import-time choices; follow what it already decided.
        jt = sys.modules["jittor"]
        state.update(device="cuda" if getattr(jt, "has_cuda", 0) else "cpu",
                     onednn="decided-before-jseg_ret", prepared=True)
        return state
    state["device"] = select_device()
    state["onednn"] = prepare_onednn()
    state["prepared"] = True
    return state


def apply_flags(jt):
    """After `import jittor`: switch CUDA on where a GPU was selected."""
    if state["device"] == "cuda":
        if not jt.has_cuda:
            raise RuntimeError("jseg_ret selected CUDA but Jittor found no working CUDA toolkit "
                               "(set nvcc_path to the toolkit's nvcc; see README 'GPU')")
        jt.flags.use_cuda = 1
    else:
        jt.flags.use_cuda = 0


def device():
    return state["device"]
