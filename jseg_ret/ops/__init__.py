from .matmul import bmm
from .retention import retention_1d, retention_2d
from .resize import resize, resize_nhwc

__all__ = ["bmm", "retention_1d", "retention_2d", "resize", "resize_nhwc"]
