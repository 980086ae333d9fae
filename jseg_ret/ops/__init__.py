from .matmul import bmm
from .resize import resize, resize_nhwc
from .retention import retention_1d, retention_2d

__all__ = ["bmm", "retention_1d", "retention_2d", "resize", "resize_nhwc"]
