from .fpn import FPN
from .frm import FRM

__all__ = ["FPN", "FRM"]
