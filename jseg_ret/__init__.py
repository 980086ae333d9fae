"""jseg_ret: SegRet, SegNeXt and FRM semantic segmentation in Jittor."""
from . import runtime
from .version import __version__

# Jittor reads its device and oneDNN settings when it is first imported: prepare them first.
# Hence the imports below follow code (E402 is ignored for this file in pyproject.toml).
runtime.prepare()

import jittor as jt

runtime.apply_flags(jt)

from .config import Config
from .models import build_segmentor

__all__ = ["Config", "build_segmentor", "runtime", "__version__"]
