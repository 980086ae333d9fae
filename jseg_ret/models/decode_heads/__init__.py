from .decode_head import BaseDecodeHead
from .segret_head import SegFormerHeadWithRes
from .ham_head import LightHamHead  # noqa: F401  (registers LightHamHead in HEADS)
from .fpn_head import ContrastFPNHead, FPNHead  # noqa: F401  (register in HEADS)

__all__ = ["BaseDecodeHead", "SegFormerHeadWithRes"]
