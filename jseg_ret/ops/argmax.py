"""Index of the largest value along the channel axis (axis 1), one CPU kernel.

Jittor's ``argmax(dim=1)`` on NCHW logits is ``arg_reduce`` walking each pixel's channels at a
stride of H·W, the largest single item of a CPU training step (the training accuracy on 150
logit channels; docs/performance.md). ``channel_argmax`` sweeps the channels over blocks of pixels
instead (``kernels/argmax_cpu.h``); elsewhere (CUDA, fast paths off) it is ``argmax``.
"""
import jittor as jt

from ..fast_path import fast_path_enabled
from .kernels.sources import kernel_source

_SRC = """jseg_argmax::channel_argmax<in0_type, out0_type>(in0_p, out0_p, in0_shape0,
    in0_shape1, in0->num / (in0_shape0 * in0_shape1));"""


def _header():  # the kernel source file (read once, cached)
    return kernel_source("argmax_cpu.h")


def channel_argmax(x):
    """int32 indices (N, *spatial) of the largest value along axis 1 of ``x`` (N, C, *spatial);
    the first one where several are equal. No gradient."""
    if x.ndim < 2:
        raise ValueError(f"channel_argmax: expected (N, C, ...) scores, got shape {x.shape}")
    if jt.flags.use_cuda or not fast_path_enabled() or str(x.dtype) not in ("float32",
                                                                             "float64"):
        return x.argmax(dim=1)[0]
    return jt.code((x.shape[0], *x.shape[2:]), "int32", [x.stop_grad()],
                   cpu_header=_header(), cpu_src=_SRC)


__all__ = ["channel_argmax"]
