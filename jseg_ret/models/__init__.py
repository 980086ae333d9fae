from . import backbones, decode_heads, losses, necks, segmentors  # noqa: F401  (register)
from .builder import (  # noqa: F401
                      build_backbone,
                      build_head,
                      build_loss,
                      build_neck,
                      build_segmentor,
)
from .fuse import FusedModelError, fuse_for_inference, is_fused  # noqa: F401
