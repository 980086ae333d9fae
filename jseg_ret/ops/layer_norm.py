"""LayerNorm over the last axis: one CPU kernel where no gradient is needed, else the formula.

Jittor's ``nn.LayerNorm`` runs as several reduce and element-wise kernels, a visible cost for
SegRet-T's 28 channels-last LayerNorms in CPU inference (docs/performance.md).
``layer_norm_last`` gives the same function (two-pass variance) in one pass over each row. It has
no gradient: ``layer_norm_last`` uses it only where nothing needs one (``applies``) and the
formula otherwise.
"""
import jittor as jt

from ..fast_path import fast_path_enabled
from .kernels.sources import kernel_source

_SRC = """jseg_layer_norm::forward<in0_type>(in0_p, in1_p, in2_p, out0_p,
    in0->num / in0_shape{last}, in0_shape{last}, data["eps"]);"""


def _header():  # the kernel source file after its helper (read once, cached)
    return kernel_source("lane_sum_cpu.h", "layer_norm_cpu.h")


def applies(x, weight):
    """CPU, float32/64, fast paths on, and no gradient needed (``jt.no_grad()`` or everything
    stop-grad)."""
    if jt.flags.use_cuda or not fast_path_enabled() or weight is None \
            or str(x.dtype) not in ("float32", "float64"):
        return False
    return bool(jt.flags.no_grad) or (x.is_stop_grad() and weight.is_stop_grad())


def layer_norm(norm, x):
    """``norm`` (a module with ``weight``, ``bias``, ``eps``: a LayerNorm over the last axis of
    ``x``) on ``x``."""
    return normalize_last(x, norm.weight, norm.bias, norm.eps)


def layer_norm_formula(x, weight, bias, eps):
    """(x − mean) / sqrt(var + eps) · weight + bias over the last axis, as Jittor ops."""
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    y = (x - mean) / jt.sqrt(var + eps)
    if weight is None:
        return y
    return y * weight + bias if bias is not None else y * weight


def normalize_last(x, weight, bias, eps):
    """(x − mean) / sqrt(var + eps) · weight + bias over the last axis of ``x``: the CPU kernel
    where it ``applies``, else the formula (differentiable)."""
    if not applies(x, weight) or bias is None:
        return layer_norm_formula(x, weight, bias, eps)
    return layer_norm_last(x, weight, bias, eps)


def layer_norm_last(x, weight, bias, eps):
    """The CPU kernel (no gradient)."""
    src = _SRC.format(last=x.ndim - 1)
    return jt.code(x.shape, x.dtype, [x, weight.astype(x.dtype), bias.astype(x.dtype)],
                   cpu_header=_header(), cpu_src=src, data={"eps": float(eps)})
