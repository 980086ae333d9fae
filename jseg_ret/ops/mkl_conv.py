"""oneDNN convolution with explicit memory layouts (CPU), forward and backward.

On the CPU Jittor runs ``nn.Conv2d`` through oneDNN with NCHW in and out, reordering input,
weights and output to oneDNN's blocked layout and back at every call. On a channels-last map
oneDNN's NHWC kernels run directly (depthwise and strided convs are faster than in NCHW;
docs/performance.md#cpu-kernels-what-each-replaced). ``MklConv`` calls them, with oneDNN's
backward-data and backward-weights primitives for training. Depthwise convs on NHWC maps take
their weight gradient, and where it is faster (measured per shape class, ``direct_depthwise_*``)
their forward and data gradient, from the direct loops of ``ops.dwconv``.
"""
import jittor as jt

from ..fast_path import fast_path_enabled
from .dwconv import depthwise_conv_nhwc, depthwise_data_grad_nhwc, depthwise_weight_grad_nhwc


def mkl_ops():
    """Jittor's oneDNN ops when running on the CPU with oneDNN, else None."""
    if jt.flags.use_cuda:
        return None
    return getattr(jt.compile_extern, "mkl_ops", None)


def nhwc_conv_applies(x):
    """Whether ``MklConv`` serves ``x``: CPU with oneDNN, float32, fast paths on."""
    return fast_path_enabled() and str(x.dtype) == "float32" and mkl_ops() is not None


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def direct_depthwise_forward(x_shape, taps):
    """Whether the direct NHWC depthwise loop (``ops.dwconv``) beats oneDNN's forward: small
    kernels (≤ 9 taps) on wide, large maps (C ≥ 256, ≥ 64² pixels), e.g. MSCAN's FFN 3×3 at
    stride 4; oneDNN wins on narrow maps (measurements: docs/performance.md)."""
    n, h, w, c = x_shape
    return taps <= 9 and c >= 256 and n * h * w >= 4096


def direct_depthwise_data_grad(x_shape, taps):
    """Whether the direct loop beats oneDNN's depthwise backward-data: ≤ 9 taps and C ≥ 64
    (oneDNN wins on 5×5 and on C = 32; measurements: docs/performance.md)."""
    return taps <= 9 and x_shape[3] >= 64


class MklConv(jt.Function):
    """``conv``'s convolution (its stride, padding, dilation, groups) on ``x`` laid out as
    ``xformat`` (``abcd`` = NCHW, ``acdb`` = NHWC; weight OIHW), output as ``yformat``."""

    def __init__(self, conv, xformat="acdb", yformat="acdb"):
        self.args = (*pair(conv.stride), *pair(conv.padding), *pair(conv.dilation), conv.groups)
        w = conv.weight.shape
        # a depthwise conv on NHWC maps: its weight gradient from ``ops.dwconv``
        self.depthwise_nhwc = (xformat == yformat == "acdb" and conv.groups == w[0]
                               and w[1] == 1)
        self.xformat, self.yformat = xformat, yformat
        self.saved = None

    def execute(self, x, weight):
        self.saved = (x, weight)
        if self.depthwise_nhwc and direct_depthwise_forward(x.shape, self.taps(weight)):
            a = self.args
            return depthwise_conv_nhwc(x, weight, a[0:2], a[2:4], a[4:6])
        return mkl_ops().mkl_conv(x, weight, *self.args, self.xformat, "oihw", self.yformat)

    @staticmethod
    def taps(weight):
        return weight.shape[2] * weight.shape[3]

    def grad(self, dy):
        x, weight = self.saved
        mkl = mkl_ops()
        h, w = (x.shape[1], x.shape[2]) if self.xformat == "acdb" else (x.shape[2], x.shape[3])
        if self.depthwise_nhwc and direct_depthwise_data_grad(x.shape, self.taps(weight)):
            a = self.args
            dx = depthwise_data_grad_nhwc(dy, weight, x.shape, a[0:2], a[2:4], a[4:6])
        else:
            dx = mkl.mkl_conv_backward_x(weight, dy, h, w, *self.args, self.xformat, "oihw",
                                         self.yformat)
        if self.depthwise_nhwc:
            a = self.args
            dw = depthwise_weight_grad_nhwc(x, dy, weight.shape[2:], a[0:2], a[2:4], a[4:6])
        else:
            dw = mkl.mkl_conv_backward_w(x, dy, weight.shape[2], weight.shape[3], *self.args,
                                         self.xformat, "oihw", self.yformat)
        return dx, dw





def channels_last_preferred():
    """The layout a network built now should use inside: channels-last where oneDNN's NHWC
    kernels serve it (CPU with oneDNN, fast paths on), NCHW elsewhere (CUDA)."""
    return fast_path_enabled() and mkl_ops() is not None
__all__ = ["MklConv", "channels_last_preferred", "mkl_ops", "nhwc_conv_applies", "pair"]
