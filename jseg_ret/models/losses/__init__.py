from .accuracy import accuracy
from .cross_entropy import CrossEntropyLoss, cross_entropy

__all__ = ["accuracy", "CrossEntropyLoss", "cross_entropy"]
