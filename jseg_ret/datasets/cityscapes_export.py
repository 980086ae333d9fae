"""Write Cityscapes predictions as labelId PNGs for the official evaluation scripts.

It lives with the datasets (beside the label tables it encodes) because both
``CityscapesDataset`` and ``evaluation.submission`` use it, and datasets sit below
evaluation (CONTRIBUTING.md, "Layering").

Naming follows mmseg's format_results: ``<out_dir>/<image basename without extension>.png``,
e.g. ``frankfurt/frankfurt_000000_000294_leftImg8bit.png`` ->
``<out_dir>/frankfurt_000000_000294_leftImg8bit.png``; cityscapesScripts'
evalPixelLevelSemanticLabeling finds it by the ``<city>_<seq>_<frame>`` prefix.
"""
from __future__ import annotations

import os.path as osp
from typing import Any

import numpy as np
from PIL import Image

from ..utils.fileio import PathLike, atomic_path
from .label_maps import cityscapes_id_palette, cityscapes_trainid_to_id_lut

_TRAINID_TO_ID = cityscapes_trainid_to_id_lut()
_ID_PALETTE = cityscapes_id_palette()


def trainid_to_labelid(pred_trainids: Any) -> np.ndarray:
    """trainIds (0..18; anything else -> 0 'unlabeled') to Cityscapes labelIds, uint8."""
    pred = np.asarray(pred_trainids)
    if pred.ndim != 2:
        raise ValueError(f"prediction must be (H, W), got shape {pred.shape}")
    pred = np.where((pred >= 0) & (pred < 256), pred, 255).astype(np.uint8)
    return np.take(_TRAINID_TO_ID, pred)


def cityscapes_result_path(out_dir: str, img_filename: str) -> str:
    """``<out_dir>/<image basename without extension>.png``."""
    return osp.join(out_dir, osp.splitext(osp.basename(img_filename))[0] + ".png")


def cityscapes_export(pred_trainids: Any, out_path: PathLike, to_label_id: bool = True) -> PathLike:
    """Save one prediction as a palette PNG of labelIds (or trainIds), atomically.

    Args:
        pred_trainids: The (H, W) trainId map.
        out_path: The PNG to write (its folder is made).
        to_label_id: Convert to labelIds (the official scripts' encoding); False keeps trainIds.

    Returns:
        ``out_path``.

    Raises:
        ValueError: Not an (H, W) map.
        OutputWriteError: The file could not be written; an existing one is unchanged.
    """
    pred = trainid_to_labelid(pred_trainids) if to_label_id else np.asarray(pred_trainids,
                                                                            dtype=np.uint8)
    pred = np.ascontiguousarray(pred)
    img = Image.frombytes("P", (pred.shape[1], pred.shape[0]), pred.tobytes())  # indices = ids
    img.putpalette(_ID_PALETTE)
    with atomic_path(out_path, "the prediction", suffix=".png", makedirs=True) as tmp:
        img.save(tmp)
    return out_path
