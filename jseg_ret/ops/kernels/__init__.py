"""Fused retention kernels: a C++ (OpenMP) kernel on CPU, a CUDA kernel on GPU.

Both stream over key tiles with an online softmax and compute the decay bias from token indices,
so no L×L tensor exists in forward or backward (see retention_cpu.h / retention_cuda.cu). Jittor
compiles them at first use through ``jt.code`` (cached in ~/.cache/jittor; the jit key is the
source text and the dtypes, not the shapes, so new shapes do not recompile).

dtypes: CPU float32 and float64 natively; float16 on CPU is upcast to float32 around the kernel
(Jittor's CPU float16 is a scalar struct, too slow inside the inner loops). CUDA float32 and
float16 (half loads, float32 accumulation); head dims up to 128.
"""
import functools
import os

import jittor as jt

from ..qkv import check_qkv  # the shape rules every retention entry point shares
from .function import CUDA_MAX_HEAD_DIM, SOURCES, RetentionFunction

__all__ = ["fused_available", "unavailable_reason", "supports", "fused_retention",
           "CUDA_MAX_HEAD_DIM"]


def _device():
    return "cuda" if jt.flags.use_cuda else "cpu"


@functools.lru_cache(maxsize=None)
def _source_present(device):
    return os.path.isfile(SOURCES[device])


def unavailable_reason():
    """Why no fused kernel exists for the current device, or None when one does."""
    device = _device()
    src = SOURCES[device]
    if not _source_present(device):
        return f"kernel source {src} is missing (broken install?)"
    if device == "cuda" and not jt.has_cuda:
        return "jt.flags.use_cuda is set but Jittor has no working CUDA toolkit"
    if device == "cpu" and not getattr(jt.compiler, "cc_path", ""):
        return "Jittor found no C++ compiler"
    return None


def fused_available():
    """True where a fused kernel exists for the current device (CPU always; CUDA when in use)."""
    return unavailable_reason() is None


def _dtypes():
    return ("float16", "float32") if _device() == "cuda" else ("float16", "float32", "float64")


def supports(q, v):
    """Whether the current device's kernel takes q (B, N, L, d) / v (B, N, L, e) as they are."""
    if str(q.dtype) not in _dtypes():
        return False
    return _device() == "cpu" or max(q.shape[3], v.shape[3]) <= CUDA_MAX_HEAD_DIM


def _check(q, k, v, decay, h, w):
    check_qkv(q, k, v, decay, "fused_retention")
    if h < 1 or w < 1 or h * w != q.shape[2]:
        raise ValueError(f"fused_retention: grid {h}x{w} does not match L={q.shape[2]}")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise TypeError(f"fused_retention: q, k, v dtypes differ: {q.dtype}, {k.dtype}, {v.dtype}")
    allowed = _dtypes()
    if str(q.dtype) not in allowed:
        raise TypeError(f"fused_retention on {_device()}: dtype {q.dtype} unsupported; expected "
                        f"one of {allowed} (impl='naive' handles others)")
    if _device() == "cuda" and max(q.shape[3], v.shape[3]) > CUDA_MAX_HEAD_DIM:
        raise ValueError(f"fused_retention on CUDA: head dims d={q.shape[3]}, e={v.shape[3]}; "
                         f"at most {CUDA_MAX_HEAD_DIM} supported")


def fused_retention(q, k, v, decay, h, w):
    """softmax(q kᵀ + decay·Manhattan distance on an h×w grid) v, differentiable in q, k, v."""
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"fused retention unavailable: {reason}")
    h, w = int(h), int(w)
    _check(q, k, v, decay, h, w)
    decay = decay.float32().stop_grad()  # a buffer: never differentiated
    dtype = str(q.dtype)
    if dtype == "float16" and _device() == "cpu":
        out = RetentionFunction(w)(q.float32(), k.float32(), v.float32(), decay)
        return out.float16()
    return RetentionFunction(w)(q, k, v, decay)
