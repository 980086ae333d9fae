"""Geometric transforms: Resize, AlignedResize, ResizeToMultiple, RandomCrop, RandomFlip, Pad
(mmseg 0.x rules; images resized as OpenCV's INTER_LINEAR, labels as INTER_NEAREST, see
image_ops).

Randomness comes from numpy's global RNG (as mmseg), so ``np.random.seed`` makes it repeatable.
Shapes: ``img_scale``/``scale`` are (w, h) like mmcv; ``crop_size``/``size`` are (h, w).
"""
import numpy as np

from ...registry import TRANSFORMS
from .image_ops import (
    imflip,
    impad,
    impad_to_multiple,
    imrescale,
    imresize,
    imresize_region,
    imresize_to_multiple,
    rescale_size,
)


def _as_scale_list(img_scale):
    if img_scale is None:
        return None
    scales = img_scale if isinstance(img_scale, list) else [img_scale]
    out = []
    for s in scales:
        if not (isinstance(s, (tuple, list)) and len(s) == 2):
            raise ValueError(f"img_scale entries must be (w, h) pairs, got {s!r}")
        out.append(tuple(s))
    return out


@TRANSFORMS.register_module()
class Resize:
    """Resize image and label maps.

    How the target ``scale`` is chosen (when the results do not already carry one):
    - ``ratio_range`` set: a ratio r ~ U(ratio_range) times ``img_scale`` (or times the image's own
      size when ``img_scale`` is None);
    - one ``img_scale``: that scale;
    - several: ``multiscale_mode='range'`` samples long/short edges between them, ``'value'`` picks
      one.
    ``keep_ratio=True`` rescales so that the long edge fits max(scale) and the short edge fits
    min(scale) (mmcv.imrescale); otherwise the image is resized to exactly (w, h) = scale.
    """

    def __init__(self, img_scale=None, multiscale_mode="range", ratio_range=None, keep_ratio=True,
                 min_size=None):
        self.img_scale = _as_scale_list(img_scale)
        if ratio_range is not None:
            if self.img_scale is not None and len(self.img_scale) != 1:
                raise ValueError("Resize with ratio_range takes at most one img_scale, got "
                                 f"{self.img_scale}")
            if len(ratio_range) != 2 or ratio_range[0] > ratio_range[1]:
                raise ValueError("ratio_range must be (min, max) with min <= max, got "
                                 f"{ratio_range}")
        elif multiscale_mode not in ("value", "range"):
            raise ValueError(f"multiscale_mode {multiscale_mode!r}: expected 'value' or 'range'")
        self.multiscale_mode = multiscale_mode
        self.ratio_range = ratio_range
        self.keep_ratio = keep_ratio
        self.min_size = min_size

    @staticmethod
    def random_select(img_scales):
        idx = np.random.randint(len(img_scales))
        return img_scales[idx], idx

    @staticmethod
    def random_sample(img_scales):
        if len(img_scales) != 2:
            raise ValueError(f"multiscale_mode='range' needs exactly 2 scales, got {img_scales}")
        longs = [max(s) for s in img_scales]
        shorts = [min(s) for s in img_scales]
        long_edge = np.random.randint(min(longs), max(longs) + 1)
        short_edge = np.random.randint(min(shorts), max(shorts) + 1)
        return (long_edge, short_edge), None

    @staticmethod
    def random_sample_ratio(img_scale, ratio_range):
        min_ratio, max_ratio = ratio_range
        ratio = np.random.random_sample() * (max_ratio - min_ratio) + min_ratio
        # at least 1 pixel: a tiny image times a ratio < 1 would otherwise ask for size 0
        return (max(int(img_scale[0] * ratio), 1), max(int(img_scale[1] * ratio), 1)), None

    def _random_scale(self, results):
        if self.ratio_range is not None:
            if self.img_scale is None:
                h, w = results["img"].shape[:2]
                scale, idx = self.random_sample_ratio((w, h), self.ratio_range)
            else:
                scale, idx = self.random_sample_ratio(self.img_scale[0], self.ratio_range)
        elif self.img_scale is None:
            raise ValueError("Resize has neither img_scale nor ratio_range, and no 'scale' was "
                             "set by MultiScaleFlipAug: give Resize an img_scale")
        elif len(self.img_scale) == 1:
            scale, idx = self.img_scale[0], 0
        elif self.multiscale_mode == "range":
            scale, idx = self.random_sample(self.img_scale)
        else:
            scale, idx = self.random_select(self.img_scale)
        results["scale"] = scale
        results["scale_idx"] = idx

    def _apply_min_size(self, results):
        if self.min_size is None:
            return
        new_short = max(min(results["scale"]), self.min_size)
        h, w = results["img"].shape[:2]
        if h > w:
            results["scale"] = (new_short * h / w, new_short)
        else:
            results["scale"] = (new_short, new_short * w / h)

    def _resize_img(self, results):
        img = results["img"]
        h, w = img.shape[:2]
        if self.keep_ratio:
            self._apply_min_size(results)
            out = imrescale(img, results["scale"], interpolation="bilinear")
        else:
            out = imresize(img, results["scale"], interpolation="bilinear")
        new_h, new_w = out.shape[:2]
        self._set_img(results, out, new_w / w, new_h / h)

    @staticmethod
    def _set_img(results, img, w_scale, h_scale):
        results["img"] = img
        results["img_shape"] = img.shape
        results["pad_shape"] = img.shape  # until Pad changes it
        results["scale_factor"] = np.array([w_scale, h_scale, w_scale, h_scale], dtype=np.float32)

    def _resize_seg(self, results):
        for key in results.get("seg_fields", []):
            if self.keep_ratio:
                results[key] = imrescale(results[key], results["scale"], interpolation="nearest")
            else:
                results[key] = imresize(results[key], results["scale"], interpolation="nearest")

    def __call__(self, results):
        if "scale" not in results:
            self._random_scale(results)
        self._resize_img(results)
        self._resize_seg(results)
        results["keep_ratio"] = self.keep_ratio
        return results

    def __repr__(self):
        return (f"{type(self).__name__}(img_scale={self.img_scale}, "
                f"multiscale_mode={self.multiscale_mode!r}, ratio_range={self.ratio_range}, "
                f"keep_ratio={self.keep_ratio})")


@TRANSFORMS.register_module()
class AlignedResize(Resize):
    """Resize, then stretch so both sides are multiples of ``size_divisor`` (SegFormer/SegRet's
    mmseg-0.x transform): each side of the rescaled image is rounded *up*,
    ceil(side / size_divisor) * size_divisor, and the image resized bilinearly (labels: nearest)
    to that size; ``scale_factor`` is the overall new/old ratio per side."""

    def __init__(self, img_scale=None, multiscale_mode="range", ratio_range=None, keep_ratio=True,
                 size_divisor=32, min_size=None):
        super().__init__(img_scale, multiscale_mode, ratio_range, keep_ratio, min_size)
        self.size_divisor = size_divisor

    def _align(self, img, interpolation):
        d = self.size_divisor
        align_h = int(np.ceil(img.shape[0] / d)) * d
        align_w = int(np.ceil(img.shape[1] / d)) * d
        return imresize(img, (align_w, align_h), interpolation=interpolation)

    def _resize_img(self, results):
        img = results["img"]
        h, w = img.shape[:2]
        if self.keep_ratio:
            self._apply_min_size(results)
            out = imrescale(img, results["scale"], interpolation="bilinear")
            out = self._align(out, "bilinear")
        else:
            out = imresize(img, results["scale"], interpolation="bilinear")
            if out.shape[0] % self.size_divisor or out.shape[1] % self.size_divisor:
                raise ValueError(f"AlignedResize(keep_ratio=False): scale {results['scale']} gives "
                                 f"{out.shape[:2]}, not multiples of {self.size_divisor}")
        new_h, new_w = out.shape[:2]
        self._set_img(results, out, new_w / w, new_h / h)

    def _resize_seg(self, results):
        for key in results.get("seg_fields", []):
            if self.keep_ratio:
                seg = imrescale(results[key], results["scale"], interpolation="nearest")
                results[key] = self._align(seg, "nearest")
            else:
                results[key] = imresize(results[key], results["scale"], interpolation="nearest")


@TRANSFORMS.register_module()
class ResizeToMultiple:
    """mmseg 0.x ResizeToMultiple: stretch image and label maps so both sides are the next
    multiples (ceil) of ``size_divisor`` (mmcv.imresize_to_multiple with scale_factor=1).

    The image uses ``interpolation`` (None: bilinear), label maps nearest. As in mmseg,
    ``img_shape`` and ``pad_shape`` follow the new size and ``scale_factor`` is left as Resize set
    it.
    """

    def __init__(self, size_divisor=32, interpolation=None):
        if not (isinstance(size_divisor, int) and size_divisor > 0):
            raise ValueError(f"ResizeToMultiple size_divisor must be a positive int, got "
                             f"{size_divisor!r}")
        self.size_divisor = size_divisor
        self.interpolation = interpolation

    def __call__(self, results):
        img = imresize_to_multiple(results["img"], self.size_divisor,
                                   interpolation=self.interpolation or "bilinear")
        results["img"] = img
        results["img_shape"] = img.shape
        results["pad_shape"] = img.shape
        for key in results.get("seg_fields", []):
            results[key] = imresize_to_multiple(results[key], self.size_divisor,
                                                interpolation="nearest")
        return results

    def __repr__(self):
        return (f"{type(self).__name__}(size_divisor={self.size_divisor}, "
                f"interpolation={self.interpolation})")


def _largest_class_ratio(seg, ignore_index):
    """(number of classes present, share of the most frequent) among non-ignored pixels."""
    if seg.dtype == np.uint8:
        counts = np.bincount(seg.ravel(), minlength=256)
        if 0 <= ignore_index < 256:
            counts[ignore_index] = 0
        counts = counts[counts > 0]
    else:
        labels, counts = np.unique(seg, return_counts=True)
        counts = counts[labels != ignore_index]
    if counts.size == 0:
        return 0, 1.0
    return counts.size, counts.max() / counts.sum()


@TRANSFORMS.register_module()
class RandomCrop:
    """Random crop of ``crop_size`` = (h, w); smaller images are kept whole (Pad fills them later).

    With ``cat_max_ratio < 1`` the crop is redrawn (up to 10 times) while one class covers
    ``cat_max_ratio`` or more of its non-ignored pixels, or it holds a single class.
    """

    def __init__(self, crop_size, cat_max_ratio=1.0, ignore_index=255):
        if not (isinstance(crop_size, (tuple, list)) and len(crop_size) == 2
                and crop_size[0] > 0 and crop_size[1] > 0):
            raise ValueError(f"crop_size must be (h, w) with positive sides, got {crop_size!r}")
        self.crop_size = tuple(crop_size)
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def get_crop_bbox(self, img):
        margin_h = max(img.shape[0] - self.crop_size[0], 0)
        margin_w = max(img.shape[1] - self.crop_size[1], 0)
        offset_h = np.random.randint(0, margin_h + 1)
        offset_w = np.random.randint(0, margin_w + 1)
        return offset_h, offset_h + self.crop_size[0], offset_w, offset_w + self.crop_size[1]

    @staticmethod
    def crop(img, bbox):
        y1, y2, x1, x2 = bbox
        return img[y1:y2, x1:x2, ...]

    def choose_bbox(self, img, results):
        """The crop box (y1, y2, x1, x2) for ``img`` (only its .shape is used)."""
        bbox = self.get_crop_bbox(img)
        if self.cat_max_ratio < 1.0 and "gt_semantic_seg" in results:
            for _ in range(10):
                n, ratio = _largest_class_ratio(self.crop(results["gt_semantic_seg"], bbox),
                                                self.ignore_index)
                if n > 1 and ratio < self.cat_max_ratio:
                    break
                bbox = self.get_crop_bbox(img)
        return bbox

    def __call__(self, results):
        img = results["img"]
        bbox = self.choose_bbox(img, results)
        img = self.crop(img, bbox)
        results["img"] = img
        results["img_shape"] = img.shape
        for key in results.get("seg_fields", []):
            results[key] = self.crop(results[key], bbox)
        return results

    def __repr__(self):
        return (f"{type(self).__name__}(crop_size={self.crop_size}, "
                f"cat_max_ratio={self.cat_max_ratio})")


class _ShapeOnly:
    """Stands for an image that is not computed yet; RandomCrop only reads its shape."""

    def __init__(self, shape):
        self.shape = shape


class ResizeThenCrop:
    """Resize immediately followed by RandomCrop, computing only the cropped part of the image.

    Compose uses it for that pair of transforms. Same random draws, same label maps (resized in
    full, since cat_max_ratio looks at them), same results keys and the same image pixels as
    running the two in turn (the resize's taps depend only on the full sizes, so the crop's rows
    and columns are computed alone). On ADE-like images with ratio_range (0.5, 2.0) this removes
    most of the resizing cost.
    """

    def __init__(self, resize, crop):
        self.resize = resize
        self.crop = crop

    def __call__(self, results):
        img = results["img"]
        resize = self.resize
        if "scale" not in results:
            resize._random_scale(results)
        h, w = img.shape[:2]
        if resize.keep_ratio:
            resize._apply_min_size(results)
            new_w, new_h = rescale_size((w, h), results["scale"])
        else:
            new_w, new_h = (int(v) for v in results["scale"])
            if new_w <= 0 or new_h <= 0:
                raise ValueError(f"Resize(keep_ratio=False): scale {results['scale']} must be "
                                 "positive")
        resize._resize_seg(results)
        results["keep_ratio"] = resize.keep_ratio
        results["scale_factor"] = np.array([new_w / w, new_h / h] * 2, dtype=np.float32)
        results["pad_shape"] = (new_h, new_w) + img.shape[2:]

        y1, y2, x1, x2 = self.crop.choose_bbox(_ShapeOnly(results["pad_shape"]), results)
        y2, x2 = min(y2, new_h), min(x2, new_w)
        if (new_w, new_h) == (w, h):
            results["img"] = img[y1:y2, x1:x2].copy()
        else:
            results["img"] = imresize_region(img, (new_w, new_h), (y1, y2, x1, x2))
        results["img_shape"] = results["img"].shape
        for key in results.get("seg_fields", []):
            results[key] = results[key][y1:y2, x1:x2]
        return results

    def __repr__(self):
        return f"{type(self).__name__}({self.resize!r}, {self.crop!r})"


@TRANSFORMS.register_module()
class RandomFlip:
    """Flip image and label maps together with probability ``prob``.

    ``prob=None`` (test pipelines) flips only when MultiScaleFlipAug set ``results['flip']``.
    """

    def __init__(self, prob=None, direction="horizontal"):
        if prob is not None and not 0 <= prob <= 1:
            raise ValueError(f"RandomFlip prob must be in [0, 1], got {prob}")
        if direction not in ("horizontal", "vertical"):
            raise ValueError(f"RandomFlip direction {direction!r}: expected horizontal/vertical")
        self.prob = prob
        self.direction = direction

    def __call__(self, results):
        if "flip" not in results:
            results["flip"] = bool(self.prob is not None and np.random.rand() < self.prob)
        if "flip_direction" not in results:
            results["flip_direction"] = self.direction
        if results["flip"]:
            results["img"] = imflip(results["img"], results["flip_direction"])
            for key in results.get("seg_fields", []):
                results[key] = imflip(results[key], results["flip_direction"])
        return results

    def __repr__(self):
        return f"{type(self).__name__}(prob={self.prob}, direction={self.direction!r})"


@TRANSFORMS.register_module()
class Pad:
    """Pad bottom/right to ``size`` = (h, w) or to multiples of ``size_divisor``.

    Image gets ``pad_val``, label maps get ``seg_pad_val`` (255 = ignore).
    """

    def __init__(self, size=None, size_divisor=None, pad_val=0, seg_pad_val=255):
        if (size is None) == (size_divisor is None):
            raise ValueError("Pad needs exactly one of size and size_divisor, got "
                             f"size={size}, size_divisor={size_divisor}")
        self.size = tuple(size) if size is not None else None
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    def __call__(self, results):
        img = results["img"]
        if self.size is not None:
            padded = impad(img, self.size, pad_val=self.pad_val)
        else:
            padded = impad_to_multiple(img, self.size_divisor, pad_val=self.pad_val)
        results["img"] = padded
        results["pad_shape"] = padded.shape
        results["pad_fixed_size"] = self.size
        results["pad_size_divisor"] = self.size_divisor
        for key in results.get("seg_fields", []):
            results[key] = impad(results[key], padded.shape[:2], pad_val=self.seg_pad_val)
        return results

    def __repr__(self):
        return (f"{type(self).__name__}(size={self.size}, size_divisor={self.size_divisor}, "
                f"pad_val={self.pad_val}, seg_pad_val={self.seg_pad_val})")
