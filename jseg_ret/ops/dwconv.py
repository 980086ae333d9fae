"""A depthwise convolution on channels-last maps as direct CPU loops: weight gradient, forward,
data gradient.

oneDNN's depthwise backward-weights primitive was the largest item of a channels-last CPU
training step; ``depthwise_weight_grad_nhwc`` computes the same sums with a direct loop over the
contiguous channels (``kernels/dwconv_cpu.h``). ``ops.mkl_conv.MklConv`` uses it for depthwise
convolutions on NHWC maps. The forward and the data gradient (same loop structure, gathered per
output / input row) are faster than oneDNN's on wide maps with small kernels (e.g. MSCAN's FFN
3×3); ``MklConv`` picks them there. Measurements: docs/performance.md.
"""
import jittor as jt

from .kernels.sources import kernel_source

_SRC = """jseg_dwconv::weight_grad<in0_type>(in0_p, in1_p, out0_p, in0_shape0, in0_shape1,
    in0_shape2, in0_shape3, in1_shape1, in1_shape2, out0_shape2, out0_shape3,
    (int)data["sh"], (int)data["sw"], (int)data["ph"], (int)data["pw"], (int)data["dh"],
    (int)data["dw"]);"""


# forward: in0 = x (N, H, W, C), in1 = w; out (N, OH, OW, C). The taps come from w's shape.
_FWD_SRC = """jseg_dwconv::forward<in0_type>(in0_p, in1_p, out0_p, in0_shape0, in0_shape1,
    in0_shape2, in0_shape3, out0_shape1, out0_shape2, in1_shape2, in1_shape3,
    (int)data["sh"], (int)data["sw"], (int)data["ph"], (int)data["pw"], (int)data["dh"],
    (int)data["dw"]);"""
# data gradient: in0 = dy (N, OH, OW, C), in1 = w; out dx (N, H, W, C)
_DX_SRC = """jseg_dwconv::data_grad<in0_type>(in0_p, in1_p, out0_p, out0_shape0, out0_shape1,
    out0_shape2, out0_shape3, in0_shape1, in0_shape2, in1_shape2, in1_shape3,
    (int)data["sh"], (int)data["sw"], (int)data["ph"], (int)data["pw"], (int)data["dh"],
    (int)data["dw"]);"""


def _header():  # the kernel source file (read once, cached)
    return kernel_source("dwconv_cpu.h")


def _conv_data(stride, padding, dilation):
    return {"sh": int(stride[0]), "sw": int(stride[1]), "ph": int(padding[0]),
            "pw": int(padding[1]), "dh": int(dilation[0]), "dw": int(dilation[1])}


def _out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def depthwise_conv_nhwc(x, weight, stride, padding, dilation):
    """y (N, OH, OW, C) of a depthwise conv (no bias) of ``x`` (N, H, W, C) with ``weight``
    (C, 1, kh, kw); CPU."""
    n, h, w, c = x.shape
    kh, kw = weight.shape[2:]
    oh = _out_size(h, kh, stride[0], padding[0], dilation[0])
    ow = _out_size(w, kw, stride[1], padding[1], dilation[1])
    return jt.code((n, oh, ow, c), x.dtype, [x, weight.astype(x.dtype)], cpu_header=_header(),
                   cpu_src=_FWD_SRC, data=_conv_data(stride, padding, dilation))


def depthwise_data_grad_nhwc(dy, weight, x_shape, stride, padding, dilation):
    """dx (N, H, W, C) of a depthwise conv with weight (C, 1, kh, kw) given ``dy``
    (N, OH, OW, C); CPU."""
    return jt.code(tuple(x_shape), dy.dtype, [dy, weight.astype(dy.dtype)],
                   cpu_header=_header(), cpu_src=_DX_SRC,
                   data=_conv_data(stride, padding, dilation))


def depthwise_weight_grad_nhwc(x, dy, kernel_size, stride, padding, dilation):
    """dW (C, 1, kh, kw) of a depthwise conv with input ``x`` (N, H, W, C) and output gradient
    ``dy`` (N, OH, OW, C); float32/float64 on the CPU."""
    kh, kw = kernel_size
    c = x.shape[3]
    data = {"sh": stride[0], "sw": stride[1], "ph": padding[0], "pw": padding[1],
            "dh": dilation[0], "dw": dilation[1]}
    return jt.code((c, 1, kh, kw), x.dtype, [x, dy.astype(x.dtype)], cpu_header=_header(),
                   cpu_src=_SRC, data={k: int(v) for k, v in data.items()})


__all__ = ["depthwise_conv_nhwc", "depthwise_data_grad_nhwc", "depthwise_weight_grad_nhwc"]
