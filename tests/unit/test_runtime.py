"""The runtime picks CPU without a usable GPU and points Jittor at the system oneDNN."""
import os
import subprocess
import sys

import pytest

from jseg_ret import runtime
from tests.helpers.paths import ROOT


def run_py(code, **env):
    full = {k: v for k, v in os.environ.items() if k != "JSEG_RET_DEVICE"}
    full.update(PYTHONPATH=ROOT, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full,
                          timeout=900)


def test_hidden_gpu_runs_on_cpu():
    r = run_py("import jseg_ret, jittor as jt; from jseg_ret import runtime;"
               "x = (jt.ones((2, 2)) * 3).sum().item();"
               "print('DEVICE', runtime.device(), jt.flags.use_cuda, x)",
               CUDA_VISIBLE_DEVICES="")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DEVICE cpu 0 12.0" in r.stdout


def test_device_override_cuda_without_gpu_is_clear():
    r = run_py("import jseg_ret", CUDA_VISIBLE_DEVICES="", JSEG_RET_DEVICE="cuda")
    assert r.returncode != 0
    assert "JSEG_RET_DEVICE=cuda" in r.stderr and "no usable NVIDIA GPU" in r.stderr


def test_device_override_rejects_unknown_value():
    r = run_py("import jseg_ret", JSEG_RET_DEVICE="tpu")
    assert r.returncode != 0 and "expected one of" in r.stderr


def test_cuda_visible_devices_empty_means_no_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert runtime.cuda_device_count() == 0


def test_system_onednn_linked_where_jittor_looks(tmp_path, monkeypatch):
    if runtime._find_system_onednn() is None:
        pytest.skip("no system oneDNN (libdnnl-dev) on this machine")
    monkeypatch.setenv("JITTOR_HOME", str(tmp_path))
    monkeypatch.delenv("use_mkl", raising=False)
    assert runtime.prepare_onednn() == "system"
    lib = tmp_path / ".cache/jittor/mkl/dnnl_lnx_2.2.0_cpu_gomp/lib/libmkldnn.so"
    inc = tmp_path / ".cache/jittor/mkl/dnnl_lnx_2.2.0_cpu_gomp/include/dnnl.hpp"
    assert lib.exists() and inc.exists()
    assert runtime.prepare_onednn() == "jittor-cache"  # idempotent


def test_no_onednn_falls_back_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("JITTOR_HOME", str(tmp_path))
    monkeypatch.setenv("use_mkl", "1")  # recorded, so the fallback's use_mkl=0 is undone
    monkeypatch.delenv("use_mkl")
    monkeypatch.setattr(runtime, "_find_system_onednn", lambda: None)
    with pytest.warns(RuntimeWarning, match="libdnnl-dev"):
        assert runtime.prepare_onednn() == "disabled"
    assert os.environ["use_mkl"] == "0"


def test_this_process_uses_onednn():
    import jittor as jt
    if runtime._find_system_onednn() is None:
        pytest.skip("no system oneDNN on this machine")
    assert jt.compile_extern.mkl_ops is not None
