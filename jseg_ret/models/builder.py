"""build_* entry points over the registries.

Each takes a config dict whose ``type`` names a registered class (the other keys are its
arguments) and raises as ``registry.build_from_cfg`` does: KeyError for an unknown or missing
``type``, TypeError for arguments the class does not take.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..registry import BACKBONES, HEADS, LOSSES, MODELS, NECKS


def build_backbone(cfg: Mapping[str, Any]) -> Any:
    """A backbone (``BACKBONES``) from ``cfg``; see the module docstring."""
    return BACKBONES.build(cfg)


def build_neck(cfg: Mapping[str, Any]) -> Any:
    """A neck (``NECKS``) from ``cfg``; see the module docstring."""
    return NECKS.build(cfg)


def build_head(cfg: Mapping[str, Any]) -> Any:
    """A decode or auxiliary head (``HEADS``) from ``cfg``; see the module docstring."""
    return HEADS.build(cfg)


def build_loss(cfg: Mapping[str, Any]) -> Any:
    """A loss (``LOSSES``) from ``cfg``; see the module docstring."""
    return LOSSES.build(cfg)


def build_segmentor(cfg: Mapping[str, Any], train_cfg: Mapping[str, Any] | None = None,
                    test_cfg: Mapping[str, Any] | None = None) -> Any:
    """A segmentor from ``cfg`` (a config's ``model``).

    Args:
        cfg: The model config (``type`` a ``MODELS`` entry, e.g. ``EncoderDecoder``).
        train_cfg: Passed as ``train_cfg`` unless ``cfg`` holds one.
        test_cfg: Passed as ``test_cfg`` unless ``cfg`` holds one (``mode``, crop size...).

    Returns:
        The segmentor (a Jittor module) in training mode.

    Raises:
        KeyError: An unknown or missing ``type`` anywhere in the model.
        TypeError: Arguments a component does not take.
    """
    defaults = {}
    if train_cfg is not None:
        defaults["train_cfg"] = train_cfg
    if test_cfg is not None:
        defaults["test_cfg"] = test_cfg
    return MODELS.build(cfg, **defaults)
