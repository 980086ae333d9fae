"""Find the state dict inside a loaded checkpoint object.

Checkpoints wrap their weights differently: mmseg/mmcv save ``{'meta', 'state_dict'}``, timm-style
and classification repos ``{'model': ...}`` — DeiT/RMT ``main.py`` also ``'model_ema'`` (the EMA
weights) next to ``optimizer``, ``lr_scheduler``, ``scaler``, ``epoch`` and ``args`` —, and
DataParallel/DDP prefix every key with ``module.``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from .errors import CheckpointError

# what ``key=None`` (auto) follows, in this order; EMA weights are only taken when asked for
WRAPPER_KEYS = ("state_dict", "model", "model_state", "module")


def is_state_dict(obj):
    """A non-empty mapping of str -> array-like (numpy array or anything with ``shape``)."""
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) for k in obj)
            and all(isinstance(v, np.ndarray) or hasattr(v, "shape") for v in obj.values()))


def weight_candidates(obj):
    """Top-level keys of ``obj`` whose value is a state dict (e.g. ``model``, ``model_ema``)."""
    if not isinstance(obj, dict):
        return []
    return [k for k, v in obj.items() if isinstance(k, str) and is_state_dict(v)]


def locate_state_dict(obj: Any, source: str = "checkpoint", key: str | None = None
                      ) -> tuple[dict[str, Any], list[str]]:
    """Find the ``{name: array}`` dict in a loaded checkpoint.

    Args:
        obj: The loaded checkpoint.
        source: Its name, for error messages.
        key: The top-level entry to take (e.g. ``'model_ema'``); None follows the
            ``WRAPPER_KEYS`` (nested too).

    Returns:
        ``(state_dict, path)``: the dict (a common ``module.`` prefix removed) and the keys
        leading to it.

    Raises:
        CheckpointError: No such ``key``, or no state dict where one was looked for.
    """
    seen = []
    if key is not None:
        if not (isinstance(obj, dict) and key in obj):
            found = sorted(map(str, obj))[:20] if isinstance(obj, dict) else type(obj).__name__
            raise CheckpointError(f"{source}: has no key {key!r} (weights key asked for); its "
                                  f"top-level keys: {found}")
        seen.append(key)
        obj = obj[key]
    while isinstance(obj, dict) and not is_state_dict(obj):
        nxt = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if nxt is None:
            break
        seen.append(nxt)
        obj = obj[nxt]
    if not is_state_dict(obj):
        where = "".join(f"[{k!r}]" for k in seen) or "the top level"
        found = sorted(map(str, obj))[:10] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{source}: no state dict found at {where} (expected a dict of name -> tensor, "
            f"possibly under 'state_dict' or 'model'); found {found}")
    if all(k.startswith("module.") for k in obj):
        obj = OrderedDict((k[len("module."):], v) for k, v in obj.items())
    return obj, seen


def unwrap_state_dict(obj: Any, source: str = "checkpoint", key: str | None = None
                      ) -> dict[str, Any]:
    """Return the ``{name: array}`` dict inside ``obj`` (see ``locate_state_dict``)."""
    return locate_state_dict(obj, source, key)[0]
