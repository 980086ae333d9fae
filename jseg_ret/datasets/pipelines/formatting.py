"""Formatting: from (h, w, c) pipeline arrays to what the model consumes.

Outputs are numpy arrays (the loader turns them into Jittor vars): ``img`` float32 (3, H, W),
``gt_semantic_seg`` int64 (H, W), and ``img_metas`` a plain dict.
"""
import numpy as np

from ...registry import TRANSFORMS

DEFAULT_META_KEYS = ("filename", "ori_filename", "ori_shape", "img_shape", "pad_shape",
                     "scale_factor", "flip", "flip_direction", "img_norm_cfg")
# Meta keys that a pipeline without RandomFlip never sets; they have an obvious value.
_META_DEFAULTS = {"flip": False, "flip_direction": "horizontal"}


def image_to_chw(img):
    """float32 (c, h, w); no copy when img is already a view of such an array (Normalize)."""
    if img.ndim < 3:
        img = img[..., None]
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)


@TRANSFORMS.register_module()
class DefaultFormatBundle:
    """img -> float32 (c, h, w); gt_semantic_seg -> int64 (h, w)."""

    def __call__(self, results):
        if "img" in results:
            results["img"] = image_to_chw(results["img"])
        if "gt_semantic_seg" in results:
            results["gt_semantic_seg"] = results["gt_semantic_seg"].astype(np.int64)
        return results

    def __repr__(self):
        return f"{type(self).__name__}()"


@TRANSFORMS.register_module()
class ImageToTensor:
    """The named (h, w[, c]) images -> float32 (c, h, w)."""

    def __init__(self, keys):
        self.keys = list(keys)

    def __call__(self, results):
        for key in self.keys:
            results[key] = image_to_chw(results[key])
        return results

    def __repr__(self):
        return f"{type(self).__name__}(keys={self.keys})"


@TRANSFORMS.register_module()
class ToTensor:
    """The named entries -> numpy arrays (no layout change)."""

    def __init__(self, keys):
        self.keys = list(keys)

    def __call__(self, results):
        for key in self.keys:
            results[key] = np.asarray(results[key])
        return results


@TRANSFORMS.register_module()
class Collect:
    """Keep ``keys`` and gather ``meta_keys`` into ``results['img_metas']``."""

    def __init__(self, keys, meta_keys=DEFAULT_META_KEYS):
        self.keys = list(keys)
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results):
        img_meta = {}
        for key in self.meta_keys:
            if key in results:
                img_meta[key] = results[key]
            elif key in _META_DEFAULTS:
                img_meta[key] = _META_DEFAULTS[key]
            else:
                raise KeyError(f"Collect: meta key {key!r} was not set by the pipeline (present: "
                               f"{sorted(results)}); add the transform that sets it or drop it "
                               "from meta_keys")
        data = {"img_metas": img_meta}
        for key in self.keys:
            if key not in results:
                raise KeyError(f"Collect: key {key!r} missing from the pipeline output "
                               f"(present: {sorted(results)})")
            data[key] = results[key]
        return data

    def __repr__(self):
        return f"{type(self).__name__}(keys={self.keys}, meta_keys={self.meta_keys})"
