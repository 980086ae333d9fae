"""build_dataset: a dataset from a config; lists of img_dir/ann_dir/split make a ConcatDataset."""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from ..registry import DATASETS, build_from_cfg
from .dataset_wrappers import ConcatDataset, RepeatDataset


def _count(value):
    if value is None:
        return 0
    return len(value) if isinstance(value, (list, tuple)) else 1


def _concat_dataset(cfg, default_args=None):
    """One dataset per entry of the img_dir / ann_dir / split lists (mmseg's rule)."""
    cfg = copy.deepcopy(dict(cfg))
    img_dir, ann_dir, split = cfg["img_dir"], cfg.get("ann_dir"), cfg.get("split")
    separate_eval = cfg.pop("separate_eval", True)
    n_img, n_ann, n_split = _count(img_dir), _count(ann_dir), _count(split)
    if n_img > 1:
        if n_ann not in (0, n_img) or n_split not in (0, n_img):
            raise ValueError(f"{cfg.get('type')}: {n_img} img_dir entries need as many ann_dir "
                             f"and split entries (or none), got {n_ann} and {n_split}")
    elif n_ann > 1 and n_ann != n_split:
        raise ValueError(f"{cfg.get('type')}: {n_ann} ann_dir entries need as many split entries, "
                         f"got {n_split}")
    datasets = []
    for i in range(max(n_split, n_img)):
        sub = copy.deepcopy(cfg)
        for key, value in (("img_dir", img_dir), ("ann_dir", ann_dir), ("split", split)):
            if isinstance(value, (list, tuple)):
                sub[key] = value[i]
        datasets.append(build_dataset(sub, default_args))
    return ConcatDataset(datasets, separate_eval)


def build_dataset(cfg: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                  default_args: Mapping[str, Any] | None = None) -> Any:
    """A dataset from a config dict, or a ``ConcatDataset`` of a list of them.

    ``RepeatDataset`` and ``ConcatDataset`` configs wrap their inner ones; lists of
    ``img_dir``/``ann_dir``/``split`` make one dataset per entry (mmseg's rule).

    Args:
        cfg: ``type`` names a ``DATASETS`` entry, the other keys are its arguments.
        default_args: Arguments used where ``cfg`` does not give them.

    Returns:
        The dataset.

    Raises:
        TypeError: ``cfg`` is not a dict (or list), or arguments the dataset does not take.
        KeyError: An unknown ``type``, or a wrapper missing ``dataset``/``times``.
        ValueError: img_dir/ann_dir/split lists of different lengths.
    """
    if isinstance(cfg, (list, tuple)):
        return ConcatDataset([build_dataset(c, default_args) for c in cfg])
    if not isinstance(cfg, dict):
        raise TypeError(f"dataset config must be a dict, got {type(cfg).__name__}")
    if cfg.get("type") == "RepeatDataset":
        if "dataset" not in cfg or "times" not in cfg:
            raise KeyError(f"RepeatDataset config needs 'dataset' and 'times', got {sorted(cfg)}")
        return RepeatDataset(build_dataset(cfg["dataset"], default_args), cfg["times"])
    if cfg.get("type") == "ConcatDataset":
        return ConcatDataset([build_dataset(c, default_args) for c in cfg["datasets"]],
                             cfg.get("separate_eval", True))
    if isinstance(cfg.get("img_dir"), (list, tuple)) or isinstance(cfg.get("split"), (list, tuple)):
        return _concat_dataset(cfg, default_args)
    return build_from_cfg(cfg, DATASETS, default_args)
