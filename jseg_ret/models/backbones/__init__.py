from .rmt import VisRetNet
from . import mscan, van  # noqa: F401  (registers MSCAN and VAN in BACKBONES)

__all__ = ["VisRetNet"]
