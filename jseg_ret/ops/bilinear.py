"""Bilinear resize on the CPU as one separable C++ kernel (forward and backward).

Jittor's generic ``nn.interpolate`` builds the result from index arithmetic and four gathers per
output element, which made the final resize of the logits a large share of a CPU inference.
This kernel blends two source rows per output row and samples along W (also for channels-last
maps, where each tap moves a pixel's C contiguous values): the same function (PyTorch's taps,
computed in the tensor's dtype as PyTorch's CPU kernel does), in a fraction of the time
(docs/performance.md), and a backward pass (its transpose) for training.
"""
import functools

import numpy as np

import jittor as jt

from .kernels.sources import kernel_source

_DTYPES = ("float32", "float64")
# in0 = x (or dy), in1..in6 = hi0, hi1, hl, wi0, wi1, wl
_ARGS = "in1_p, in2_p, in3_p, in4_p, in5_p, in6_p, out0_p"
_FWD = f"""jseg_bilinear::forward<in0_type>(in0_p, {_ARGS},
    in0_shape0 * in0_shape1, in0_shape2, in0_shape3, in1_shape0, in4_shape0, 1);"""
# channels-last: x (N, h, w, C)
_FWD_NHWC = f"""jseg_bilinear::forward<in0_type>(in0_p, {_ARGS},
    in0_shape0, in0_shape1, in0_shape2, in1_shape0, in4_shape0, in0_shape3);"""
_BWD = f"""jseg_bilinear::backward<in0_type>(in0_p, {_ARGS},
    in0_shape0 * in0_shape1, out0_shape2, out0_shape3, in0_shape2, in0_shape3, 1);"""
_BWD_NHWC = f"""jseg_bilinear::backward<in0_type>(in0_p, {_ARGS},
    in0_shape0, out0_shape1, out0_shape2, in0_shape1, in0_shape2, in0_shape3);"""


def _header():  # the kernel source file (read once, cached)
    return kernel_source("bilinear_cpu.h")


def source_index(n_in, n_out, align_corners, dtype="float32"):
    """Per output index: the two source taps and the weight of the second, in ``dtype``
    arithmetic as PyTorch's CPU kernel (``area_pixel_compute_source_index``)."""
    f = np.dtype(dtype).type
    if align_corners:
        scale = f(n_in - 1) / f(n_out - 1) if n_out > 1 else f(0)
        src = scale * np.arange(n_out, dtype=dtype)
    else:
        scale = f(n_in) / f(n_out)
        src = np.maximum(scale * (np.arange(n_out, dtype=dtype) + f(0.5)) - f(0.5), f(0))
    src = src.astype(dtype)
    i0 = np.minimum(np.floor(src).astype(np.int32), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1).astype(np.int32)
    lam = np.clip(src - i0, 0, 1).astype(dtype)
    return i0, i1, lam


@functools.lru_cache(maxsize=256)
def _taps(h, w, H, W, align_corners, dtype):
    hi0, hi1, hl = source_index(h, H, align_corners, dtype)
    wi0, wi1, wl = source_index(w, W, align_corners, dtype)
    # dtype given: jt.array alone would turn float64 weights into float32
    return tuple(jt.array(a, dtype=str(a.dtype)).stop_grad() for a in (hi0, hi1, hl, wi0, wi1, wl))


class BilinearResize(jt.Function):
    """(N, C, h, w) -> (N, C, H, W) bilinear (``channels_last``: (N, h, w, C) ->
    (N, H, W, C)); gradient with respect to the input."""

    def __init__(self, size, align_corners, channels_last=False):
        self.size = (int(size[0]), int(size[1]))
        self.align_corners = bool(align_corners)
        self.channels_last = bool(channels_last)
        self.in_shape = None

    def _taps(self, h, w, dtype):
        return list(_taps(h, w, *self.size, self.align_corners, dtype))

    def _hw(self, shape):
        return (shape[1], shape[2]) if self.channels_last else (shape[2], shape[3])

    def execute(self, x):
        self.in_shape = (tuple(x.shape), str(x.dtype))
        h, w = self._hw(x.shape)
        if self.channels_last:
            shape, src = (x.shape[0],) + self.size + (x.shape[3],), _FWD_NHWC
        else:
            shape, src = tuple(x.shape[:2]) + self.size, _FWD
        return jt.code(shape, x.dtype, [x] + self._taps(h, w, str(x.dtype)),
                       cpu_header=_header(), cpu_src=src)

    def grad(self, dy):
        if dy is None:
            return None
        shape, dtype = self.in_shape
        h, w = self._hw(shape)
        return jt.code(shape, dtype, [dy.astype(dtype)] + self._taps(h, w, dtype),
                       cpu_header=_header(), cpu_src=_BWD_NHWC if self.channels_last else _BWD)


# resize_sum_nhwc: maps i = 0..K-1 at in{7i}, their taps at in{7i+1}..in{7i+6}, the shift last
_SUM_SRC = """
const float* xs[] = {{{x}}};
const int* hi0s[] = {{{hi0}}};
const int* hi1s[] = {{{hi1}}};
const float* hls[] = {{{hl}}};
const int* wi0s[] = {{{wi0}}};
const int* wi1s[] = {{{wi1}}};
const float* wls[] = {{{wl}}};
const int hs[] = {{{h}}};
const int ws[] = {{{w}}};
jseg_bilinear::resize_sum_nhwc(xs, hi0s, hi1s, hls, wi0s, wi1s, wls, hs, ws, {k}, {shift},
    {relu}, out0_p, out0_shape0, out0_shape1, out0_shape2, out0_shape3);"""


def resize_sum_nhwc(maps, size, align_corners=False, shift=None, relu=False):
    """act(Σ_i resize(maps[i], size) + shift) for channels-last float32 maps (N, h_i, w_i, C)
    (``shift`` (C,) or None; act: ReLU when ``relu``), as one CPU pass in which the resized maps
    are never written out; no gradient (the caller checks ``applies`` and that none is needed).
    Returns (N, H, W, C)."""
    n, c = maps[0].shape[0], maps[0].shape[3]
    if any(m.ndim != 4 or m.shape[0] != n or m.shape[3] != c or str(m.dtype) != "float32"
           for m in maps):
        raise ValueError(f"resize_sum_nhwc: maps {[tuple(m.shape) for m in maps]} must be "
                         f"float32 (N, h, w, C) maps of one N and C")
    H, W = (int(size[0]), int(size[1]))
    inputs, ref = [], {k: [] for k in ("x", "hi0", "hi1", "hl", "wi0", "wi1", "wl", "h", "w")}
    for m in maps:
        base = len(inputs)
        inputs += [m] + list(_taps(m.shape[1], m.shape[2], H, W, bool(align_corners),
                                   "float32"))
        for j, k in enumerate(("x", "hi0", "hi1", "hl", "wi0", "wi1", "wl")):
            ref[k].append(f"in{base + j}_p")
        ref["h"].append(str(m.shape[1]))
        ref["w"].append(str(m.shape[2]))
    shift_ptr = "nullptr"
    if shift is not None:
        shift_ptr = f"in{len(inputs)}_p"
        inputs.append(shift)
    src = _SUM_SRC.format(k=len(maps), shift=shift_ptr, relu=str(bool(relu)).lower(),
                          **{k: ", ".join(v) for k, v in ref.items()})
    return jt.code((n, H, W, c), "float32", inputs, cpu_header=_header(), cpu_src=src)


def applies(x, mode):
    """Whether ``bilinear_resize`` serves this call: CPU, bilinear, float32/float64 4-D maps."""
    return (not jt.flags.use_cuda and mode == "bilinear" and x.ndim == 4
            and str(x.dtype) in _DTYPES)


def bilinear_resize(x, size, align_corners=False):
    return BilinearResize(size, align_corners)(x)


def bilinear_resize_nhwc(x, size, align_corners=False):
    """Bilinear resize of a channels-last (N, h, w, C) map on the CPU: every tap moves C
    contiguous values; differentiable."""
    return BilinearResize(size, align_corners, channels_last=True)(x)
