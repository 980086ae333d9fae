"""Manhattan-decay retention: softmax(q kᵀ + λ·distance) v, per head.

Shapes: q, k (B, N, L, d); v (B, N, L, e); decay (N,) negative; k already scaled by d^-1/2.
- retention_2d: tokens on an H×W grid (t = h·W + w), distance = |h_i−h_j| + |w_i−w_j|.
- retention_1d: tokens on a line, distance = |i−j|.
``impl``: 'naive' composes Jittor ops (builds the L×L bias, logits and probabilities);
'fused' streams over keys without L² tensors (jseg_ret.ops.kernels); 'auto' picks fused where
a kernel exists for the device.
"""
import functools

import numpy as np

import jittor as jt

from . import kernels
from .qkv import check_qkv

IMPLS = ("auto", "fused", "naive")


@functools.lru_cache(maxsize=64)
def manhattan_distance(h, w):
    """(H·W, H·W) float32 array of |h_i−h_j| + |w_i−w_j| over the row-major grid."""
    hh, ww = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    hh, ww = hh.reshape(-1), ww.reshape(-1)
    dist = np.abs(hh[:, None] - hh[None, :]) + np.abs(ww[:, None] - ww[None, :])
    return dist.astype(np.float32)


@functools.lru_cache(maxsize=64)
def line_distance(s):
    """(S, S) float32 array of |i−j|."""
    i = np.arange(s)
    return np.abs(i[:, None] - i[None, :]).astype(np.float32)


def _resolve(impl, q, v):
    if impl not in IMPLS:
        raise ValueError(f"retention impl {impl!r} unknown; expected one of {IMPLS}")
    if impl == "naive":
        return "naive"
    if kernels.fused_available():
        # 'auto' falls back where the kernel cannot take these inputs (e.g. float64 on CUDA);
        # 'fused' goes on and lets the kernel raise a precise error.
        return "fused" if impl == "fused" or kernels.supports(q, v) else "naive"
    if impl == "fused":
        raise RuntimeError(f"retention impl 'fused' requested but no fused kernel is available "
                           f"for this device: {kernels.unavailable_reason()}")
    return "naive"


def naive_retention(q, k, v, decay, distance):
    """Reference composition: bias, matmul, softmax, matmul. ``distance`` is (L, L) numpy."""
    dist = jt.array(distance)
    dist = dist.astype(q.dtype).unsqueeze(0).unsqueeze(0)
    bias = decay.reshape(1, -1, 1, 1).astype(q.dtype) * dist
    logits = jt.matmul(q, k.transpose(0, 1, 3, 2)) + bias
    probs = jt.nn.softmax(logits, dim=-1)
    return jt.matmul(probs, v)


def retention_2d(q, k, v, decay, hw, impl="auto"):
    """2-D (whole) retention over an H×W grid; returns (B, N, L, e)."""
    check_qkv(q, k, v, decay, "retention_2d")
    h, w = int(hw[0]), int(hw[1])
    if h * w != q.shape[2]:
        raise ValueError(f"retention_2d: hw={hw} has {h * w} tokens but q has L={q.shape[2]}")
    if _resolve(impl, q, v) == "fused":
        return kernels.fused_retention(q, k, v, decay, h, w)
    return naive_retention(q, k, v, decay, manhattan_distance(h, w))


def retention_1d(q, k, v, decay, impl="auto"):
    """1-D retention along sequences of length S; returns (B, N, S, e)."""
    check_qkv(q, k, v, decay, "retention_1d")
    if _resolve(impl, q, v) == "fused":
        return kernels.fused_retention(q, k, v, decay, 1, q.shape[2])
    return naive_retention(q, k, v, decay, line_distance(q.shape[2]))
