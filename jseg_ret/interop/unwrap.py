"""Find the state dict inside a loaded checkpoint object.

Checkpoints wrap their weights differently: mmseg/mmcv save ``{'meta', 'state_dict'}``, timm-style
and classification repos ``{'model': ...}``, DataParallel/DDP prefix every key with ``module.``.
"""
from collections import OrderedDict

import numpy as np

from .errors import CheckpointError

WRAPPER_KEYS = ("state_dict", "model", "model_state", "module")


def is_state_dict(obj):
    """A non-empty mapping of str -> array-like (numpy array or anything with ``shape``)."""
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) for k in obj)
            and all(isinstance(v, np.ndarray) or hasattr(v, "shape") for v in obj.values()))


def unwrap_state_dict(obj, source="checkpoint"):
    """Return the ``{name: array}`` dict inside ``obj``, with a common ``module.`` prefix removed.

    Follows ``state_dict`` / ``model`` wrappers (nested too). ``source`` names the file in errors.
    """
    seen = []
    while isinstance(obj, dict) and not is_state_dict(obj):
        key = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if key is None:
            break
        seen.append(key)
        obj = obj[key]
    if not is_state_dict(obj):
        where = "".join(f"[{k!r}]" for k in seen) or "the top level"
        found = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{source}: no state dict found at {where} (expected a dict of name -> tensor, "
            f"possibly under 'state_dict' or 'model'); found {found}")
    if all(k.startswith("module.") for k in obj):
        obj = OrderedDict((k[len("module."):], v) for k, v in obj.items())
    return obj
