from . import mscan, van  # noqa: F401  (registers MSCAN and VAN in BACKBONES)
from .rmt import VisRetNet

__all__ = ["VisRetNet"]
