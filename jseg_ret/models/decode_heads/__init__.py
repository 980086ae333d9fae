from .decode_head import BaseDecodeHead
from .segret_head import SegFormerHeadWithRes

__all__ = ["BaseDecodeHead", "SegFormerHeadWithRes"]
