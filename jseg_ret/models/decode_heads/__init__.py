from .decode_head import BaseDecodeHead
from .fpn_head import ContrastFPNHead, FPNHead  # noqa: F401  (register in HEADS)
from .ham_head import LightHamHead  # noqa: F401  (registers LightHamHead in HEADS)
from .segret_head import SegFormerHeadWithRes

__all__ = ["BaseDecodeHead", "SegFormerHeadWithRes"]
