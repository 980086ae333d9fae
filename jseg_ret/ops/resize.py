"""Bilinear/nearest resize of NCHW tensors with mmseg's semantics (align_corners=False default)."""
from jittor import nn

from . import bilinear


def resize(x, size=None, scale_factor=None, mode="bilinear", align_corners=False):
    """Resize ``x`` (N, C, H, W) to ``size`` (h, w) or by ``scale_factor``."""
    if size is None:
        if scale_factor is None:
            raise ValueError("resize needs size or scale_factor")
        h, w = x.shape[-2:]
        sf = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
        size = (int(h * sf[0]), int(w * sf[1]))
    size = tuple(int(s) for s in size)
    if tuple(x.shape[-2:]) == size:
        return x
    if mode == "nearest":
        return nn.interpolate(x, size=size, mode="nearest")
    if bilinear.applies(x, mode):  # Jittor's generic interpolate is much slower on the CPU
        return bilinear.bilinear_resize(x, size, align_corners)
    return nn.interpolate(x, size=size, mode=mode, align_corners=align_corners)


def resize_nhwc(x, size, align_corners=False):
    """Bilinear resize of a channels-last (N, h, w, C) map to ``size``: the CPU kernel, else
    ``resize`` on the NCHW view."""
    size = tuple(int(s) for s in size)
    if tuple(x.shape[1:3]) == size:
        return x
    if bilinear.applies(x, "bilinear"):
        return bilinear.bilinear_resize_nhwc(x, size, align_corners)
    return resize(x.permute(0, 3, 1, 2), size=size, align_corners=align_corners).permute(0, 2, 3, 1)
