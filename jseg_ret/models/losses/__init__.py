from .accuracy import accuracy
from .cross_entropy import CrossEntropyLoss, cross_entropy
from .pixel_contrast import PixelContrastLoss  # noqa: F401  (registers in LOSSES)

__all__ = ["accuracy", "CrossEntropyLoss", "cross_entropy"]
