"""Photometric transforms: PhotoMetricDistortion and Normalize (mmseg 0.x semantics).

Speed notes (the data pipeline must keep up with training on a 2-core CPU):
- PhotoMetricDistortion works on uint8 as mmseg does (each mmseg step ends in a uint8 image), so
  brightness and contrast are exact 256-entry lookup tables; consecutive ones are composed into
  one table before being applied.
- Saturation and hue are done on float32 planes (one contiguous (H, W) array per channel): numpy
  is slow on (H, W, 3) arrays whose inner loop is only 3 elements long.
- Normalize writes channel planes, so its (H, W, C) result is a view of a (C, H, W) buffer and the
  final transpose to CHW costs nothing.
"""
import numpy as np

from ...registry import TRANSFORMS

_IDENTITY_LUT = np.arange(256, dtype=np.uint8)


def _affine_lut(alpha=1.0, beta=0.0):
    """mmseg's convert(): clip(x * alpha + beta, 0, 255) then truncation to uint8, as a table."""
    values = np.arange(256, dtype=np.float32) * np.float32(alpha) + np.float32(beta)
    return np.clip(values, 0, 255).astype(np.uint8)


def _planes(img):
    return [img[..., i].astype(np.float32) for i in range(3)]


def adjust_saturation_hue(img, sat_alpha=None, hue_shift_deg=None):
    """HSV edit of a uint8 BGR image: S *= sat_alpha (clipped), H += hue_shift_deg.

    V (the channel maximum) is kept. Same colour model as OpenCV's HSV for uint8 images, without
    its intermediate rounding of H and S to 8 bits.
    """
    b, g, r = _planes(img)
    v = np.maximum(r, g)
    np.maximum(v, b, out=v)
    c = np.minimum(r, g)  # chroma = max - min
    np.minimum(c, b, out=c)
    np.subtract(v, c, out=c)
    out = np.empty(img.shape, dtype=np.uint8)
    if hue_shift_deg is None:
        # Only saturation: every channel's distance below V scales by the same factor,
        # which keeps H and V; the factor is capped where the new minimum would reach 0.
        k = np.maximum(c, 1.0)
        np.divide(v, k, out=k)
        np.minimum(k, np.float32(sat_alpha), out=k)
        for i, x in enumerate((b, g, r)):
            x -= v
            x *= k
            x += v
            x += 0.5
            out[..., i] = x
        return out
    # Hue in sextants h6 in [0, 6): which channel is the max decides the formula.
    inv = np.maximum(c, 1e-6)
    np.reciprocal(inv, out=inv)
    h6 = r - g
    h6 *= inv
    h6 += 4  # blue is max
    tmp = b - r
    tmp *= inv
    tmp += 2
    np.copyto(h6, tmp, where=(v == g))
    np.subtract(g, b, out=tmp)
    tmp *= inv
    np.copyto(h6, tmp, where=(v == r))
    h6 += np.float32(hue_shift_deg / 60.0)
    if sat_alpha is not None:
        c *= np.float32(sat_alpha)
        np.minimum(c, v, out=c)
    # HSV -> RGB: channel = V - C * clip(min(k, 4 - k), 0, 1), k = (n + h6) mod 6, n = 5, 3, 1.
    for i, n in ((2, 5), (1, 3), (0, 1)):
        k = h6 + np.float32(n)
        np.floor(k * np.float32(1.0 / 6.0), out=tmp)  # np.mod on floats is slow
        tmp *= 6
        k -= tmp
        np.subtract(4, k, out=tmp)
        np.minimum(k, tmp, out=k)
        np.clip(k, 0, 1, out=k)
        k *= c
        np.subtract(v, k, out=k)
        k += 0.5
        out[..., i] = k
    return out


@TRANSFORMS.register_module()
class PhotoMetricDistortion:
    """Each step is applied with probability 1/2, in mmseg's order and with its random draws:

    1. brightness: + U(-brightness_delta, brightness_delta)
    2. mode = randint(2); contrast first when mode == 1: * U(contrast_range)
    3. saturation (HSV S channel): * U(saturation_range)
    4. hue (HSV H channel): + randint(-hue_delta, hue_delta) in OpenCV units (2 degrees)
    5. contrast last when mode == 0
    """

    def __init__(self, brightness_delta=32, contrast_range=(0.5, 1.5),
                 saturation_range=(0.5, 1.5), hue_delta=18):
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    def _brightness_lut(self):
        if np.random.randint(2):
            return _affine_lut(beta=np.random.uniform(-self.brightness_delta,
                                                      self.brightness_delta))
        return None

    def _contrast_lut(self):
        if np.random.randint(2):
            return _affine_lut(alpha=np.random.uniform(self.contrast_lower, self.contrast_upper))
        return None

    def _saturation_alpha(self):
        if np.random.randint(2):
            return np.random.uniform(self.saturation_lower, self.saturation_upper)
        return None

    def _hue_shift_deg(self):
        if np.random.randint(2):
            if self.hue_delta <= 0:  # randint(-0, 0) would raise
                return 0.0
            return 2.0 * np.random.randint(-self.hue_delta, self.hue_delta)
        return None

    def __call__(self, results):
        img = results["img"]
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError("PhotoMetricDistortion needs a 3-channel image, got shape "
                             f"{img.shape}")
        if img.dtype != np.uint8:  # mmseg's first applied step casts to uint8 the same way
            img = np.clip(img, 0, 255).astype(np.uint8)
        # Draw everything in mmseg's order first; then apply, composing adjacent tables.
        brightness = self._brightness_lut()
        mode = np.random.randint(2)
        contrast_first = self._contrast_lut() if mode == 1 else None
        sat_alpha = self._saturation_alpha()
        hue_shift = self._hue_shift_deg()
        contrast_last = self._contrast_lut() if mode == 0 else None

        lut = None
        for table in (brightness, contrast_first):
            if table is not None:
                lut = table if lut is None else table[lut]
        if sat_alpha is not None or hue_shift is not None:
            if lut is not None:
                img = np.take(lut, img)
                lut = None
            img = adjust_saturation_hue(img, sat_alpha, hue_shift)
        if contrast_last is not None:
            lut = contrast_last if lut is None else contrast_last[lut]
        if lut is not None:
            img = np.take(lut, img)
        results["img"] = img
        return results

    def __repr__(self):
        return (f"{type(self).__name__}(brightness_delta={self.brightness_delta}, "
                f"contrast_range=({self.contrast_lower}, {self.contrast_upper}), "
                f"saturation_range=({self.saturation_lower}, {self.saturation_upper}), "
                f"hue_delta={self.hue_delta})")


def imnormalize(img, mean, std, to_rgb=True):
    """(img[..., ::-1] if to_rgb else img) - mean) / std in float32, as mmcv.imnormalize.

    Returns an (H, W, C) view of a C-contiguous (C, H, W) array (see the module note).
    """
    if img.ndim == 2:
        img = img[..., None]
    channels = img.shape[2]
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"Normalize: {len(mean)} means / {len(std)} stds for {channels} channels")
    flip = to_rgb and channels == 3
    out = np.empty((channels,) + img.shape[:2], dtype=np.float32)
    for c in range(channels):
        src = img[..., channels - 1 - c] if flip else img[..., c]
        np.subtract(src, mean[c], out=out[c], dtype=np.float32)
        out[c] *= np.float32(1.0 / np.float64(std[c]))
    return out.transpose(1, 2, 0)


@TRANSFORMS.register_module()
class Normalize:
    def __init__(self, mean, std, to_rgb=True):
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        if np.any(self.std == 0):
            raise ValueError(f"Normalize std must be non-zero, got {list(std)}")
        self.to_rgb = to_rgb

    def __call__(self, results):
        results["img"] = imnormalize(results["img"], self.mean, self.std, self.to_rgb)
        results["img_norm_cfg"] = dict(mean=self.mean, std=self.std, to_rgb=self.to_rgb)
        return results

    def __repr__(self):
        return (f"{type(self).__name__}(mean={self.mean.tolist()}, std={self.std.tolist()}, "
                f"to_rgb={self.to_rgb})")
