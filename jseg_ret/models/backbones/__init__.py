from .rmt import VisRetNet

__all__ = ["VisRetNet"]
