"""Image primitives on numpy arrays, implemented with PIL (no OpenCV).

Sizes follow mmcv: ``size`` and ``scale`` tuples are (w, h); array shapes are (h, w[, c]).
Images are resized bilinearly, label maps with nearest neighbour.
"""
import numbers

import numpy as np
from PIL import Image

_PIL_FILTERS = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST,
                "bicubic": Image.BICUBIC, "area": Image.BOX, "lanczos": Image.LANCZOS}


def _pil_filter(interpolation):
    try:
        return _PIL_FILTERS[interpolation]
    except KeyError:
        raise ValueError(f"interpolation {interpolation!r}: expected one of "
                         f"{sorted(_PIL_FILTERS)}") from None


def _resize_plane(plane, size, resample):
    """Resize one 2-D plane of any numeric dtype; returns the same dtype."""
    dtype = plane.dtype
    if dtype == np.uint8:
        return np.array(Image.fromarray(plane, "L").resize(size, resample))
    if np.issubdtype(dtype, np.integer):
        if resample != Image.NEAREST:
            out = Image.fromarray(plane.astype(np.float32), "F").resize(size, resample)
            return np.array(out).round().astype(dtype)
        out = Image.fromarray(plane.astype(np.int32), "I").resize(size, resample)
        return np.array(out).astype(dtype)
    out = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), "F").resize(size, resample)
    return np.array(out).astype(dtype, copy=False)


def imresize(img, size, interpolation="bilinear", return_scale=False):
    """Resize ``img`` (h, w[, c]) to ``size`` = (w, h).

    uint8 images with 3 or 4 channels go through PIL in one call (PIL's 'RGB' mode is just three
    8-bit channels, so BGR data resizes the same); anything else is resized plane by plane.
    """
    h, w = img.shape[:2]
    size = (int(size[0]), int(size[1]))
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"imresize: target size (w, h)={size} must be positive")
    resample = _pil_filter(interpolation)
    if (w, h) == size:
        out = img.copy()
    elif img.ndim == 3 and img.dtype == np.uint8 and img.shape[2] in (3, 4):
        mode = "RGB" if img.shape[2] == 3 else "RGBA"
        out = np.array(Image.fromarray(np.ascontiguousarray(img), mode).resize(size, resample))
    elif img.ndim == 2:
        out = _resize_plane(img, size, resample)
    else:
        out = np.stack([_resize_plane(img[..., c], size, resample)
                        for c in range(img.shape[2])], axis=-1)
    if return_scale:
        return out, size[0] / w, size[1] / h
    return out


def _scale_size(size, scale):
    """mmcv._scale_size: (w, h) times a float or (sx, sy), rounded half up."""
    if isinstance(scale, numbers.Number):
        scale = (scale, scale)
    w, h = size
    return int(w * float(scale[0]) + 0.5), int(h * float(scale[1]) + 0.5)


def rescale_size(old_size, scale, return_scale=False):
    """mmcv.rescale_size: the size (w, h) that keeps the aspect ratio.

    ``scale`` a number: multiply by it. ``scale`` a tuple: the largest size whose long edge fits
    ``max(scale)`` and whose short edge fits ``min(scale)``.
    """
    w, h = old_size
    if isinstance(scale, numbers.Number):
        if scale <= 0:
            raise ValueError(f"invalid scale {scale}: must be positive")
        scale_factor = scale
    elif isinstance(scale, (tuple, list)) and len(scale) == 2:
        max_long_edge, max_short_edge = max(scale), min(scale)
        scale_factor = min(max_long_edge / max(h, w), max_short_edge / min(h, w))
    else:
        raise TypeError(f"scale must be a number or a (w, h) tuple, got {scale!r}")
    new_size = _scale_size((w, h), scale_factor)
    if return_scale:
        return new_size, scale_factor
    return new_size


def imrescale(img, scale, interpolation="bilinear", return_scale=False):
    """Resize keeping the aspect ratio (mmcv.imrescale)."""
    h, w = img.shape[:2]
    new_size, scale_factor = rescale_size((w, h), scale, return_scale=True)
    out = imresize(img, new_size, interpolation=interpolation)
    if return_scale:
        return out, scale_factor
    return out


def imflip(img, direction="horizontal"):
    """Flipped copy (contiguous) of ``img``."""
    if direction == "horizontal":
        if img.ndim == 3 and img.dtype == np.uint8:
            # Move whole pixels (c-byte records): far faster than numpy's c-element inner loop.
            pixels = np.ascontiguousarray(img).view(np.dtype((np.void, img.shape[2])))
            return np.ascontiguousarray(pixels[:, ::-1]).view(np.uint8).reshape(img.shape)
        return np.ascontiguousarray(img[:, ::-1])
    if direction == "vertical":
        return np.ascontiguousarray(img[::-1])
    if direction == "diagonal":
        return np.ascontiguousarray(img[::-1, ::-1])
    raise ValueError(f"flip direction {direction!r}: expected 'horizontal', 'vertical' or "
                     "'diagonal'")


def impad(img, shape, pad_val=0):
    """Pad at the bottom and right to ``shape`` = (h, w) (mmcv.impad with padding_mode constant)."""
    h, w = img.shape[:2]
    th, tw = int(shape[0]), int(shape[1])
    if th < h or tw < w:
        raise ValueError(f"impad: target shape (h, w)=({th}, {tw}) is smaller than the image "
                         f"({h}, {w}); pad only grows an image")
    if (th, tw) == (h, w):
        return img
    # empty_like keeps the memory layout (a CHW-backed image from Normalize stays CHW-backed).
    out = np.empty_like(img, shape=(th, tw) + img.shape[2:])
    out[...] = pad_val
    out[:h, :w] = img
    return out


def impad_to_multiple(img, divisor, pad_val=0):
    h, w = img.shape[:2]
    th = int(np.ceil(h / divisor)) * divisor
    tw = int(np.ceil(w / divisor)) * divisor
    return impad(img, (th, tw), pad_val=pad_val)


def lut_apply(img, lut):
    """Apply a 256-entry lookup table to a uint8 image (per-element)."""
    return np.take(lut, img)
