"""Image primitives on numpy arrays (no OpenCV).

Sizes follow mmcv: ``size`` and ``scale`` tuples are (w, h); array shapes are (h, w[, c]).
Images are resized bilinearly, label maps with nearest neighbour.

``imresize``'s default backend ``'cv2'`` reproduces what mmcv's default backend (OpenCV) computes,
with numpy, so that the published pipelines' resizing is ours:
- ``bilinear`` = ``cv2.INTER_LINEAR``: half-pixel centres, two taps per axis, no antialiasing when
  shrinking; uint8 in OpenCV's 11-bit fixed point (horizontal pass, then vertical, rounded as its
  SIMD path: within ±1 of every OpenCV build); other dtypes in floating point.
- ``nearest`` = ``cv2.INTER_NEAREST``: src = floor(dst * src_size / dst_size), clamped (PIL
  samples pixel centres instead, floor((dst + 0.5) * scale), and picks other rows on some sizes).
``backend='pillow'`` keeps PIL's filters (its bilinear low-pass filters when it shrinks).
"""
import numbers

import numpy as np
from PIL import Image

_PIL_FILTERS = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST,
                "bicubic": Image.BICUBIC, "area": Image.BOX, "lanczos": Image.LANCZOS}
_CV2_INTERPOLATIONS = ("bilinear", "nearest")
_BACKENDS = ("cv2", "pillow")
_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS
_COEF_SCALE = 1 << _COEF_BITS


def _pil_filter(interpolation):
    try:
        return _PIL_FILTERS[interpolation]
    except KeyError:
        raise ValueError(f"interpolation {interpolation!r}: expected one of "
                         f"{sorted(_PIL_FILTERS)}") from None


def _resize_plane(plane, size, resample):
    """Resize one 2-D plane of any numeric dtype with PIL; returns the same dtype."""
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


def _resize_pil(img, size, interpolation):
    """PIL resize; uint8 images with 3 or 4 channels in one call (PIL's 'RGB' mode is just three
    8-bit channels, so BGR data resizes the same), anything else plane by plane."""
    resample = _pil_filter(interpolation)
    if img.ndim == 3 and img.dtype == np.uint8 and img.shape[2] in (3, 4):
        mode = "RGB" if img.shape[2] == 3 else "RGBA"
        return np.array(Image.fromarray(np.ascontiguousarray(img), mode).resize(size, resample))
    if img.ndim == 2:
        return _resize_plane(img, size, resample)
    return np.stack([_resize_plane(img[..., c], size, resample)
                     for c in range(img.shape[2])], axis=-1)


def _cv2_scale(n_in, n_out):
    """OpenCV's source step per output pixel: 1 / (dsize / ssize), both divisions in double."""
    return 1.0 / (n_out / n_in)


def nearest_index(n_in, n_out, start=0, stop=None):
    """cv2.INTER_NEAREST's source index of outputs ``start:stop``: floor(dst * scale), clamped."""
    stop = n_out if stop is None else stop
    src = np.floor(np.arange(start, stop, dtype=np.float64) * _cv2_scale(n_in, n_out))
    return np.minimum(src.astype(np.int64), n_in - 1)


def linear_taps(n_in, n_out, start=0, stop=None):
    """cv2.INTER_LINEAR's taps for outputs ``start:stop``: (i0, i1, w1) with w1 the float32
    weight of i1; the position (dst + 0.5) * scale - 0.5 is rounded to float32 as OpenCV does,
    and clamped to the border (replicate) there."""
    stop = n_out if stop is None else stop
    pos = ((np.arange(start, stop, dtype=np.float64) + 0.5) * _cv2_scale(n_in, n_out)
           - 0.5).astype(np.float32)
    i0 = np.floor(pos).astype(np.int64)
    frac = (pos - i0).astype(np.float32)
    low, high = i0 < 0, i0 >= n_in - 1
    frac[low | high] = 0
    i0 = np.clip(i0, 0, n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, frac


def _fixed_point(frac):
    """OpenCV's 11-bit weights of the two taps (saturate_cast rounds half to even)."""
    w0 = np.rint((np.float32(1) - frac) * np.float32(_COEF_SCALE)).astype(np.int32)
    w1 = np.rint(frac * np.float32(_COEF_SCALE)).astype(np.int32)
    return w0, w1


def _per_element(index, weights, channels):
    """Column taps of an (h, w, c) image seen as (h, w * c): each pixel's c values in a row."""
    if channels == 1:
        return index, weights
    offsets = np.arange(channels)
    return (index[:, None] * channels + offsets).ravel(), np.repeat(weights, channels)


def _resize_linear(img, size, box):
    """cv2.INTER_LINEAR of ``img`` to ``size`` = (w, h), only the output rows y1:y2 and columns
    x1:x2 of ``box`` = (y1, y2, x1, x2) (the same values as cropping the full result)."""
    h, w = img.shape[:2]
    channels = img.shape[2] if img.ndim == 3 else 1
    y1, y2, x1, x2 = box
    yi0, yi1, fy = linear_taps(h, size[1], y1, y2)
    xi0, xi1, fx = linear_taps(w, size[0], x1, x2)
    rows = np.unique(np.concatenate([yi0, yi1]))  # the only source rows the output reads
    yi0, yi1 = np.searchsorted(rows, yi0), np.searchsorted(rows, yi1)
    # rows as flat (w * c) vectors: every gather and product below runs along contiguous rows
    src = np.take(img.reshape(h, w * channels), rows, axis=0)
    shape = (y2 - y1, x2 - x1) + img.shape[2:]
    if img.dtype == np.uint8:
        w0, w1 = _fixed_point(fx)
        c0, a0 = _per_element(xi0, w0, channels)
        c1, a1 = _per_element(xi1, w1, channels)
        b0, b1 = (b[:, None] for b in _fixed_point(fy))
        # horizontal pass: values × 2^11, exact in int32
        hor = np.take(src, c0, axis=1).astype(np.int32)
        hor *= a0
        right = np.take(src, c1, axis=1).astype(np.int32)
        right *= a1
        hor += right
        hor >>= 4
        # vertical pass as OpenCV's SIMD path (VResizeLinearVec_32s8u): 16-bit products,
        # ((h0 >> 4) * b0 >> 16) + ((h1 >> 4) * b1 >> 16), then + 2 >> 2 (in place: big arrays)
        out = np.take(hor, yi0, axis=0)
        out *= b0
        out >>= 16
        lower = np.take(hor, yi1, axis=0)
        lower *= b1
        lower >>= 16
        out += lower
        out += 2
        out >>= 2
        return out.astype(np.uint8).reshape(shape)  # already within 0..255: convex weights
    work = np.float64 if img.dtype == np.float64 or np.issubdtype(img.dtype, np.integer) \
        else np.float32
    c0, a1 = _per_element(xi0, fx.astype(work), channels)
    c1, _ = _per_element(xi1, fx, channels)
    by1 = fy.astype(work)[:, None]
    src = src.astype(work, copy=False)
    hor = np.take(src, c0, axis=1) * (1 - a1) + np.take(src, c1, axis=1) * a1
    out = np.take(hor, yi0, axis=0) * (1 - by1) + np.take(hor, yi1, axis=0) * by1
    out = out.reshape(shape)
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(img.dtype)
    return out.astype(img.dtype, copy=False)


def _resize_nearest(img, size, box):
    h, w = img.shape[:2]
    y1, y2, x1, x2 = box
    rows = np.take(img, nearest_index(h, size[1], y1, y2), axis=0)
    return np.take(rows, nearest_index(w, size[0], x1, x2), axis=1)


def _check_size(size, what):
    size = (int(size[0]), int(size[1]))
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"{what}: target size (w, h)={size} must be positive")
    return size


def imresize(img, size, interpolation="bilinear", return_scale=False, backend="cv2"):
    """Resize ``img`` (h, w[, c]) to ``size`` = (w, h), as mmcv.imresize with ``backend``
    'cv2' (default: OpenCV's values, computed with numpy; see the module docstring) or
    'pillow' (PIL's filters)."""
    h, w = img.shape[:2]
    size = _check_size(size, "imresize")
    if backend not in _BACKENDS:
        raise ValueError(f"imresize backend {backend!r}: expected one of {_BACKENDS}")
    if backend == "cv2" and interpolation not in _CV2_INTERPOLATIONS:
        raise ValueError(f"interpolation {interpolation!r} with backend 'cv2': expected one of "
                         f"{_CV2_INTERPOLATIONS} (backend='pillow' has {sorted(_PIL_FILTERS)})")
    if (w, h) == size:
        out = img.copy()
    elif backend == "pillow":
        out = _resize_pil(img, size, interpolation)
    else:
        out = imresize_region(img, size, (0, size[1], 0, size[0]), interpolation)
    if return_scale:
        return out, size[0] / w, size[1] / h
    return out


def imresize_region(img, size, box, interpolation="bilinear"):
    """``imresize(img, size)[y1:y2, x1:x2]`` for ``box`` = (y1, y2, x1, x2), computing only that
    part (cv2 backend; Resize followed by RandomCrop uses it)."""
    size = _check_size(size, "imresize_region")
    y1, y2, x1, x2 = (int(v) for v in box)
    if not (0 <= y1 <= y2 <= size[1] and 0 <= x1 <= x2 <= size[0]):
        raise ValueError(f"imresize_region: box (y1, y2, x1, x2)={box} is not inside the "
                         f"resized image (w, h)={size}")
    if interpolation == "nearest":
        return _resize_nearest(img, size, (y1, y2, x1, x2))
    if interpolation == "bilinear":
        return _resize_linear(img, size, (y1, y2, x1, x2))
    raise ValueError(f"interpolation {interpolation!r}: expected one of {_CV2_INTERPOLATIONS}")


def _scale_size(size, scale):
    """mmcv._scale_size: (w, h) times a float or (sx, sy), rounded half up — but never below 1
    pixel (mmcv would return 0 for a side that rounds down to it, and fail in the resize)."""
    if isinstance(scale, numbers.Number):
        scale = (scale, scale)
    w, h = size
    return max(int(w * float(scale[0]) + 0.5), 1), max(int(h * float(scale[1]) + 0.5), 1)


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


def imrescale(img, scale, interpolation="bilinear", return_scale=False, backend="cv2"):
    """Resize keeping the aspect ratio (mmcv.imrescale)."""
    h, w = img.shape[:2]
    new_size, scale_factor = rescale_size((w, h), scale, return_scale=True)
    out = imresize(img, new_size, interpolation=interpolation, backend=backend)
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


def imresize_to_multiple(img, divisor, interpolation="bilinear", backend="cv2"):
    """mmcv.imresize_to_multiple with scale_factor=1: stretch so both sides are the next
    multiples of ``divisor`` (ceil)."""
    h, w = img.shape[:2]
    size = (int(np.ceil(w / divisor)) * divisor, int(np.ceil(h / divisor)) * divisor)
    return imresize(img, size, interpolation=interpolation, backend=backend)


def impad_to_multiple(img, divisor, pad_val=0):
    h, w = img.shape[:2]
    th = int(np.ceil(h / divisor)) * divisor
    tw = int(np.ceil(w / divisor)) * divisor
    return impad(img, (th, tw), pad_val=pad_val)


def lut_apply(img, lut):
    """Apply a 256-entry lookup table to a uint8 image (per-element)."""
    return np.take(lut, img)
