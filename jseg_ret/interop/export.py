"""Export a Jittor model to a PyTorch ``.pth`` in the mmseg layout."""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np

from ..version import __version__
from .keymaps import add_bn_counters
from .pth_writer import save_pth


def model_state_numpy(model: Any) -> OrderedDict[str, np.ndarray]:
    """``model.state_dict()`` (a Jittor module's) as an OrderedDict name -> numpy array."""
    return OrderedDict((k, v.numpy()) for k, v in model.state_dict().items())


def to_mmseg_state(state: Mapping[str, np.ndarray]) -> OrderedDict[str, np.ndarray]:
    """Jittor layout -> mmseg layout: BN layers get their ``num_batches_tracked`` back."""
    return add_bn_counters(state)


def export_pth(model: Any, path: str | os.PathLike[str],
               meta: Mapping[str, Any] | None = None) -> str:
    """Write ``{'meta': meta, 'state_dict': OrderedDict}`` as a zip ``.pth`` (no torch needed).

    The key set equals the reference PyTorch checkpoint's: every BatchNorm (recognized by its
    ``running_var``) gets ``num_batches_tracked`` as an int64 zero-dim zero, the one buffer
    Jittor does not keep. ``torch.load(path)`` opens it with the default weights_only=True.

    Args:
        model: The Jittor segmentor.
        path: The ``.pth`` to write (atomically); its folder must exist.
        meta: Stored as ``meta``; ``exported_by`` is added when absent.

    Returns:
        ``path``.

    Raises:
        CheckpointError: No such folder, or a value a ``.pth`` cannot store.
        OutputWriteError: The write failed; an existing ``path`` is unchanged.
    """
    meta = dict(meta or {})
    meta.setdefault("exported_by", f"jseg_ret {__version__}")
    state = to_mmseg_state(model_state_numpy(model))
    return save_pth({"meta": meta, "state_dict": state}, path)
