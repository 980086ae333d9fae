"""Weight gradient of a depthwise convolution on channels-last maps, as one CPU kernel.

oneDNN's depthwise backward-weights primitive took about half of a SegNeXt-T training step on
the 2-core CPU machine (Jittor profiler: 4.1 of 8.4 s at 2×256²); ``depthwise_weight_grad_nhwc``
computes the same sums with a direct loop over the contiguous channels (``kernels/dwconv_cpu.h``).
``ops.mkl_conv.MklConv`` uses it for depthwise convolutions on NHWC maps.
"""
import functools
import os

import jittor as jt

_HEADER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels",
                            "dwconv_cpu.h")
_SRC = """jseg_dwconv::weight_grad<in0_type>(in0_p, in1_p, out0_p, in0_shape0, in0_shape1,
    in0_shape2, in0_shape3, in1_shape1, in1_shape2, out0_shape2, out0_shape3,
    (int)data["sh"], (int)data["sw"], (int)data["ph"], (int)data["pw"], (int)data["dh"],
    (int)data["dw"]);"""


@functools.lru_cache(maxsize=None)
def _header():
    with open(_HEADER_PATH, encoding="utf-8") as f:
        return f.read()


def depthwise_weight_grad_nhwc(x, dy, kernel_size, stride, padding, dilation):
    """dW (C, 1, kh, kw) of a depthwise conv with input ``x`` (N, H, W, C) and output gradient
    ``dy`` (N, OH, OW, C); float32/float64 on the CPU."""
    kh, kw = kernel_size
    c = x.shape[3]
    data = {"sh": stride[0], "sw": stride[1], "ph": padding[0], "pw": padding[1],
            "dh": dilation[0], "dw": dilation[1]}
    return jt.code((c, 1, kh, kw), x.dtype, [x, dy.astype(x.dtype)], cpu_header=_header(),
                   cpu_src=_SRC, data={k: int(v) for k, v in data.items()})


__all__ = ["depthwise_weight_grad_nhwc"]
