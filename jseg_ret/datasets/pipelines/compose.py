"""Compose: apply transforms in order; a transform returning None drops the sample."""
from ...registry import TRANSFORMS, build_from_cfg
from .geometric import RandomCrop, Resize, ResizeThenCrop


def _fuse(transforms):
    """The steps actually run: Resize directly followed by RandomCrop becomes one
    ResizeThenCrop (same result, much less resizing)."""
    steps, i = [], 0
    while i < len(transforms):
        t = transforms[i]
        nxt = transforms[i + 1] if i + 1 < len(transforms) else None
        if type(t) is Resize and type(nxt) is RandomCrop:
            steps.append(ResizeThenCrop(t, nxt))
            i += 2
        else:
            steps.append(t)
            i += 1
    return steps


@TRANSFORMS.register_module()
class Compose:
    """Apply transforms in order. ``transforms`` is the list as configured; ``steps`` is what
    runs (see _fuse)."""

    def __init__(self, transforms, fuse=True):
        if not isinstance(transforms, (list, tuple)):
            raise TypeError("Compose expects a list of transforms, got "
                            f"{type(transforms).__name__}")
        self.transforms = []
        for t in transforms:
            if isinstance(t, dict):
                t = build_from_cfg(t, TRANSFORMS)
            elif not callable(t):
                raise TypeError(f"transform must be a config dict or a callable, got {t!r}")
            self.transforms.append(t)
        self.steps = _fuse(self.transforms) if fuse else list(self.transforms)

    def __call__(self, results):
        for t in self.steps:
            try:
                results = t(results)
            except Exception as e:
                # keep the error's type; say which step raised it (datasets add the file name)
                e.add_note(f"in pipeline step {getattr(t, '__name__', type(t).__name__)}")
                raise
            if results is None:
                return None
        return results

    def __repr__(self):
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"{type(self).__name__}({inner}\n)"
