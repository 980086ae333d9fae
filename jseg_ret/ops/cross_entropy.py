"""Per-pixel softmax cross-entropy over the channel axis, one CPU kernel each way.

As Jittor ops the segmentation loss is a max, an exp-sum, a gather and their gradients, each a
strided sweep over the 150 channels of every pixel (docs/performance.md for what it cost).
``pixel_nll`` computes w[y]·(−log softmax(x)_y) per pixel (0 where the label is ignored) in one
pass over blocks of pixels, and its gradient in one more (``kernels/cross_entropy_cpu.h``).
``applies`` says where it serves (CPU, float32/64, fast paths on); ``losses.cross_entropy``
otherwise uses the formula.
"""
import jittor as jt

from ..fast_path import fast_path_enabled
from .kernels.sources import kernel_source

_SHAPE = "in0_shape0, in0_shape1, in0->num / (in0_shape0 * in0_shape1), (int)data[\"ignore\"]"
_FWD_SRC = ("jseg_ce::forward<in0_type>(in0_p, in1_p, in2_p, out0_p, " + _SHAPE + ");")
_BWD_SRC = ("jseg_ce::backward<in0_type>(in0_p, in1_p, in2_p, in3_p, out0_p, " + _SHAPE + ");")


def _header():  # the kernel source file (read once, cached)
    return kernel_source("cross_entropy_cpu.h")


def applies(pred):
    return (not jt.flags.use_cuda and fast_path_enabled()
            and str(pred.dtype) in ("float32", "float64"))


class PixelNLL(jt.Function):
    def __init__(self, ignore_index):
        self.ignore_index = int(ignore_index)
        self.saved = None

    def execute(self, pred, label, weight):
        self.saved = (pred, label, weight)
        return jt.code((pred.shape[0], *pred.shape[2:]), pred.dtype, [pred, label, weight],
                       cpu_header=_header(), cpu_src=_FWD_SRC,
                       data={"ignore": self.ignore_index})

    def grad(self, g):
        pred, label, weight = self.saved
        dx = jt.code(pred.shape, pred.dtype, [pred, label, weight, g.astype(pred.dtype)],
                     cpu_header=_header(), cpu_src=_BWD_SRC, data={"ignore": self.ignore_index})
        return dx, None, None


def pixel_nll(pred, label, weight, ignore_index):
    """w[y]·(−log softmax(pred, axis 1)_y) per pixel of ``pred`` (N, C, ...) with int32 labels
    (N, ...) and class weights ``weight`` (C,); 0 at ``ignore_index``, NaN at labels outside
    [0, C). Differentiable in ``pred``."""
    return PixelNLL(ignore_index)(pred, label.int32().stop_grad(),
                                  weight.astype(pred.dtype).stop_grad())


__all__ = ["applies", "pixel_nll"]
