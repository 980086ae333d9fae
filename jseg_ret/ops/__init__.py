from .retention import retention_1d, retention_2d
from .resize import resize

__all__ = ["retention_1d", "retention_2d", "resize"]
