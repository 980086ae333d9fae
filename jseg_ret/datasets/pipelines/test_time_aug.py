"""MultiScaleFlipAug: run the inner transforms once per (scale, flip) and return lists."""
from ...registry import TRANSFORMS
from .compose import Compose


def _ratio_scale(scale, ratio):
    """(w, h) times ``ratio``, truncated as mmseg, but at least 1 pixel (a 1×1 image at ratio
    0.5 would otherwise ask for size 0)."""
    return max(int(scale[0] * ratio), 1), max(int(scale[1] * ratio), 1)


def _is_flat_pair(value):
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


@TRANSFORMS.register_module()
class MultiScaleFlipAug:
    """Test-time augmentation, as mmseg 0.x.

    Scales: ``img_scale`` (w, h) times each of ``img_ratios``; or, with ``img_scale=None``, the
    image's own size times each ratio; or a list of explicit scales. Each augmentation sets
    ``scale``, ``flip`` and ``flip_direction`` for the inner Resize/RandomFlip. The output maps
    each key to a list with one entry per augmentation.
    """

    def __init__(self, transforms, img_scale, img_ratios=None, flip=False,
                 flip_direction="horizontal"):
        self.transforms = Compose(transforms)
        if _is_flat_pair(img_scale):
            # [w, h]: one (w, h) scale written as a list (a YAML dump made before tuples were
            # tagged); a list of scales holds pairs, never bare numbers
            img_scale = tuple(img_scale)
        if img_ratios is not None:
            img_ratios = img_ratios if isinstance(img_ratios, list) else [img_ratios]
            if not all(isinstance(r, (int, float)) for r in img_ratios):
                raise TypeError(f"img_ratios must be numbers, got {img_ratios!r}")
        if img_scale is None:
            if img_ratios is None:
                raise ValueError("MultiScaleFlipAug needs img_scale, img_ratios, or both")
            self.img_scale = None
        elif isinstance(img_scale, tuple) and img_ratios is not None:
            if len(img_scale) != 2:
                raise ValueError(f"img_scale must be (w, h), got {img_scale!r}")
            self.img_scale = [_ratio_scale(img_scale, r) for r in img_ratios]
        else:
            self.img_scale = img_scale if isinstance(img_scale, list) else [img_scale]
            bad = [s for s in self.img_scale if not _is_flat_pair(s)]
            if bad:
                raise ValueError(f"MultiScaleFlipAug img_scale entries must be (w, h) pairs, got "
                                 f"{bad[0]!r} in {img_scale!r}")
            self.img_scale = [tuple(s) for s in self.img_scale]
        self.img_ratios = img_ratios
        self.flip = flip
        self.flip_direction = (flip_direction if isinstance(flip_direction, list)
                               else [flip_direction])

    def __call__(self, results):
        if self.img_scale is None:
            h, w = results["img"].shape[:2]
            scales = [_ratio_scale((w, h), r) for r in self.img_ratios]
        else:
            scales = self.img_scale
        flips = [False, True] if self.flip else [False]
        aug_data = []
        for scale in scales:
            for flip in flips:
                for direction in self.flip_direction:
                    _results = results.copy()
                    _results["scale"] = scale
                    _results["flip"] = flip
                    _results["flip_direction"] = direction
                    aug_data.append(self.transforms(_results))
        out = {key: [] for key in aug_data[0]}
        for data in aug_data:
            for key, val in data.items():
                out[key].append(val)
        return out

    def __repr__(self):
        return (f"{type(self).__name__}(transforms={self.transforms}, img_scale={self.img_scale}, "
                f"flip={self.flip}, flip_direction={self.flip_direction})")
