"""Channels-last (NHWC) execution helpers for the CPU fast paths.

On the CPU Jittor runs ``nn.Conv2d`` through oneDNN with NCHW in and out: every call reorders
the input, the weights and the output to oneDNN's blocked layout and back. With the map kept
channels-last instead, a 1×1 conv is a (pixels × C) @ (C × O) GEMM (the product ``nn.Linear``
makes), depthwise and strided convs run on oneDNN's NHWC kernels (1.5–2× faster than NCHW on the
2-core machine, design/PERFORMANCE.md), and eval-mode BatchNorm is the per-channel affine map it
is, broadcast over the last axis. Models opt in where ``channels_last_ok(x)`` holds (CPU with
oneDNN, float32, ``jseg_ret.utils.fast_path_enabled()``); they compute the same function with
the same parameters.
"""
import jittor as jt
from jittor import nn

from .norm import BatchNorm2d


def _mkl_ops():
    """Jittor's oneDNN ops when running on the CPU with oneDNN, else None."""
    if jt.flags.use_cuda:
        return None
    return getattr(jt.compile_extern, "mkl_ops", None)


def channels_last_ok(x):
    """Whether the channels-last oneDNN path applies to ``x`` (CPU, oneDNN, float32, fast paths
    on)."""
    from ..utils import fast_path_enabled

    return fast_path_enabled() and str(x.dtype) == "float32" and _mkl_ops() is not None


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class MklConv(jt.Function):
    """oneDNN convolution with explicit layouts (``abcd`` = NCHW, ``acdb`` = NHWC; weight OIHW);
    gradients through oneDNN's backward-data / backward-weights primitives."""

    def __init__(self, conv, xformat="acdb", yformat="acdb"):
        self.args = (*_pair(conv.stride), *_pair(conv.padding), *_pair(conv.dilation),
                     conv.groups)
        self.xformat, self.yformat = xformat, yformat
        self.saved = None

    def execute(self, x, weight):
        self.saved = (x, weight)
        return _mkl_ops().mkl_conv(x, weight, *self.args, self.xformat, "oihw", self.yformat)

    def grad(self, dy):
        x, weight = self.saved
        mkl = _mkl_ops()
        h, w = (x.shape[1], x.shape[2]) if self.xformat == "acdb" else (x.shape[2], x.shape[3])
        dx = mkl.mkl_conv_backward_x(weight, dy, h, w, *self.args, self.xformat, "oihw",
                                     self.yformat)
        dw = mkl.mkl_conv_backward_w(x, dy, weight.shape[2], weight.shape[3], *self.args,
                                     self.xformat, "oihw", self.yformat)
        return dx, dw


def conv_channels_last(conv, x, xformat="acdb"):
    """``conv`` (an nn.Conv2d) on ``x`` laid out as ``xformat``; the result is NHWC. A 1×1,
    stride-1, ungrouped conv on an NHWC map is the Linear-layer product."""
    k = tuple(conv.weight.shape[2:])
    if xformat == "acdb" and k == (1, 1) and conv.groups == 1 and _pair(conv.stride) == (1, 1) \
            and _pair(conv.padding) == (0, 0):
        return nn.linear(x, conv.weight.reshape(conv.weight.shape[0], -1), conv.bias)
    y = MklConv(conv, xformat, "acdb")(x, conv.weight)
    return y + conv.bias if conv.bias is not None else y


def bn_affine(norm):
    """(scale, shift) of an eval-mode BatchNorm2d: y = x·scale + shift per channel."""
    scale = norm.weight / jt.sqrt(norm.running_var + norm.eps)
    return scale, norm.bias - norm.running_mean * scale


def bn_eval_channels_last(norm, x):
    """An eval-mode BatchNorm2d on an NHWC map (its per-channel affine map over the last axis)."""
    scale, shift = bn_affine(norm)
    return x * scale + shift


def bn_foldable(norm):
    """Whether ``norm`` is a BatchNorm (or SyncBN) in eval mode, i.e. a fixed affine map."""
    return isinstance(norm, BatchNorm2d) and not norm.is_training()


__all__ = ["MklConv", "bn_affine", "bn_eval_channels_last", "bn_foldable", "channels_last_ok",
           "conv_channels_last"]
