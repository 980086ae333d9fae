"""jseg_ret: SegRet, SegNeXt and FRM semantic segmentation in Jittor."""
from . import runtime

runtime.prepare()

import jittor as jt  # noqa: E402  (must follow runtime.prepare)

runtime.apply_flags(jt)

__version__ = "0.1.0"

from .config import Config  # noqa: E402
from .models import build_segmentor  # noqa: E402

__all__ = ["Config", "build_segmentor", "runtime", "__version__"]
