"""Streaming IoU metrics with mmseg's definitions.

Per class c, over all images, excluding ignore pixels: area_intersect (pred = gt = c),
area_pred_label (pred = c), area_label (gt = c), area_union = pred + label - intersect.
IoU = intersect / union, Acc = intersect / label, Dice = 2 intersect / (pred + label),
Precision = intersect / pred, Recall = Acc, F = (1 + b^2) P R / (b^2 P + R).
A class with a zero denominator gets NaN and is left out of the mean (nanmean).
aAcc = sum(intersect) / sum(label). Summary values are in percent.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

ALLOWED_METRICS = ("mIoU", "mDice", "mFscore")
STATE_FIELDS = ("area_intersect", "area_union", "area_pred_label", "area_label")


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy"):  # jittor.Var (or torch.Tensor)
        return x.numpy()
    return np.asarray(x)


def reduce_zero_label_map(label: np.ndarray) -> np.ndarray:
    """0 -> 255, v -> v - 1, 255 stays 255 (mmseg's reduce_zero_label, without uint8 wrap)."""
    label = label.astype(np.int64)
    out = label - 1
    out[label == 0] = 255
    out[label == 255] = 255
    return out


def flat_pair(pred: Any, label: Any, reduce_zero_label: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``label`` of one image as flat int64 arrays, the label reduced if asked.

    Raises:
        ValueError: The two maps differ in shape.
    """
    pred = _as_numpy(pred)
    label = _as_numpy(label)
    if pred.shape != label.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from label shape {label.shape}")
    if reduce_zero_label:
        label = reduce_zero_label_map(label)
    return pred.ravel().astype(np.int64, copy=False), label.ravel().astype(np.int64, copy=False)


def intersect_and_union(pred: Any, label: Any, num_classes: int, ignore_index: int = 255,
                        reduce_zero_label: bool = False
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four per-class areas of one image.

    Pixels whose label is ``ignore_index`` are excluded; predictions or labels outside
    [0, num_classes) count for nothing (as torch.histc in mmseg).

    Args:
        pred: Predicted class ids (H, W), numpy or Jittor.
        label: Label class ids, the same shape.
        num_classes: The number of classes C.
        ignore_index: The label value left out.
        reduce_zero_label: Map label 0 to ignore and v to v - 1 first (ADE20K).

    Returns:
        ``(area_intersect, area_union, area_pred_label, area_label)``, int64 arrays of length C.

    Raises:
        ValueError: ``pred`` and ``label`` differ in shape.
    """
    pred, label = flat_pair(pred, label, reduce_zero_label)
    keep = label != ignore_index
    pred, label = pred[keep], label[keep]
    label_ok = (label >= 0) & (label < num_classes)
    pred_ok = (pred >= 0) & (pred < num_classes)
    area_label = np.bincount(label[label_ok], minlength=num_classes)[:num_classes]
    area_pred = np.bincount(pred[pred_ok], minlength=num_classes)[:num_classes]
    hit = label_ok & (pred == label)
    area_intersect = np.bincount(label[hit], minlength=num_classes)[:num_classes]
    area_union = area_pred + area_label - area_intersect
    return area_intersect, area_union, area_pred, area_label


def f_score(precision: Any, recall: Any, beta: float = 1) -> Any:
    """The F-beta score of ``precision`` and ``recall`` (numbers or arrays)."""
    return (1 + beta ** 2) * (precision * recall) / ((beta ** 2 * precision) + recall)


def total_area_to_metrics(area_intersect: np.ndarray, area_union: np.ndarray,
                          area_pred_label: np.ndarray, area_label: np.ndarray,
                          metrics: str | Sequence[str] = ("mIoU",),
                          nan_to_num: float | None = None, beta: float = 1
                          ) -> dict[str, Any]:
    """Per-class metric arrays (fractions) plus aAcc, as mmseg's total_area_to_metrics.

    Args:
        area_intersect: Per-class areas summed over the images (as ``intersect_and_union``).
        area_union: See ``area_intersect``.
        area_pred_label: See ``area_intersect``.
        area_label: See ``area_intersect``.
        metrics: Names from ``ALLOWED_METRICS``; IoU and Acc are always computed.
        nan_to_num: Replace NaN (a class with a zero denominator) by this value.
        beta: The F-score's beta.

    Returns:
        ``{"aAcc": float, "IoU": array, "Acc": array, ...}`` (Dice; Fscore, Precision, Recall
        when asked), as fractions.

    Raises:
        KeyError: An unknown metric name.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    unknown = [m for m in metrics if m not in ALLOWED_METRICS]
    if unknown:
        raise KeyError(f"metrics {unknown} not supported; choose from {ALLOWED_METRICS}")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {"aAcc": area_intersect.sum() / area_label.sum()}
        acc = area_intersect / area_label
        out["IoU"] = area_intersect / area_union  # always reported (the brief's summary)
        out["Acc"] = acc
        if "mDice" in metrics:
            out["Dice"] = 2 * area_intersect / (area_pred_label + area_label)
        if "mFscore" in metrics:
            precision = area_intersect / area_pred_label
            out["Fscore"] = f_score(precision, acc, beta)
            out["Precision"] = precision
            out["Recall"] = acc
    if nan_to_num is not None:
        out = {k: np.nan_to_num(v, nan=nan_to_num) for k, v in out.items()}
    return out


def _nanmean(values: Any) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.any(~np.isnan(values)) else float("nan")


class ClassAccumulator:
    """What the streaming per-class accumulators share: the classes, the ignored label value and
    the label reduction; ``reset()`` (of the subclass) makes the empty counts.

    Args:
        num_classes: The number of classes C (at least 1).
        ignore_index: The label value left out.
        reduce_zero_label: Map label 0 to ignore and v to v - 1 before counting (ADE20K).

    Raises:
        ValueError: ``num_classes`` below 1.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255,
                 reduce_zero_label: bool = False) -> None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError


class IoUAccumulator(ClassAccumulator):
    """Fold predictions into per-class areas one image at a time; memory stays O(num_classes).

    ``update(pred, gt)`` takes integer maps of one image (numpy or Jittor). ``state()`` gives the
    four float64 arrays (intersect, union, pred, label; a dict) to sum across MPI ranks, and
    ``from_state`` rebuilds an accumulator from the summed arrays. Arguments: as
    ``ClassAccumulator``.
    """

    def reset(self) -> None:
        """Forget every image: all areas zero."""
        self.area_intersect = np.zeros(self.num_classes, dtype=np.float64)
        self.area_union = np.zeros(self.num_classes, dtype=np.float64)
        self.area_pred_label = np.zeros(self.num_classes, dtype=np.float64)
        self.area_label = np.zeros(self.num_classes, dtype=np.float64)
        self.num_images = 0

    def update(self, pred: Any, gt: Any) -> IoUAccumulator:
        """Add one image's areas.

        Args:
            pred: Predicted class ids (H, W), numpy or Jittor.
            gt: Label class ids, the same shape.

        Returns:
            ``self``.

        Raises:
            ValueError: ``pred`` and ``gt`` differ in shape.
        """
        areas = intersect_and_union(pred, gt, self.num_classes, self.ignore_index,
                                    self.reduce_zero_label)
        self.area_intersect += areas[0]
        self.area_union += areas[1]
        self.area_pred_label += areas[2]
        self.area_label += areas[3]
        self.num_images += 1
        return self

    def merge(self, other: IoUAccumulator) -> IoUAccumulator:
        """Add the areas and image count of ``other``; returns ``self``.

        Raises:
            ValueError: ``other`` counts another number of classes.
        """
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge accumulators of {other.num_classes} and "
                             f"{self.num_classes} classes")
        for name in STATE_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.num_images += other.num_images
        return self

    def state(self) -> dict[str, np.ndarray]:
        """The four per-class areas as float64 copies, keyed (in this order) by STATE_FIELDS:
        area_intersect, area_union, area_pred_label, area_label. Sum each across ranks."""
        return {name: getattr(self, name).copy() for name in STATE_FIELDS}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | Sequence[Any], num_classes: int | None = None,
                   ignore_index: int = 255, reduce_zero_label: bool = False) -> IoUAccumulator:
        """An accumulator holding ``state`` (e.g. summed over MPI ranks).

        Args:
            state: The dict of ``state()``, four arrays in STATE_FIELDS order, or one (4, C)
                array.
            num_classes: The expected C, checked when given.
            ignore_index: As the constructor's.
            reduce_zero_label: As the constructor's.

        Returns:
            The new accumulator (``num_images`` is 0: the state does not hold it).

        Raises:
            KeyError: A dict lacking one of STATE_FIELDS.
            ValueError: Not four arrays of one length, or not ``num_classes`` long.
        """
        if isinstance(state, dict):
            missing = [k for k in STATE_FIELDS if k not in state]
            if missing:
                raise KeyError(f"state lacks {missing}; expected keys {STATE_FIELDS}")
            state = [state[k] for k in STATE_FIELDS]
        arrays = [np.asarray(_as_numpy(a), dtype=np.float64) for a in state]
        if len(arrays) != 4 or len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
            raise ValueError("state must be 4 arrays of equal length (intersect, union, pred, "
                             f"label), got shapes {[a.shape for a in arrays]}")
        if num_classes is not None and len(arrays[0]) != num_classes:
            raise ValueError(f"state has {len(arrays[0])} classes, expected {num_classes}")
        acc = cls(len(arrays[0]), ignore_index, reduce_zero_label)
        for name, arr in zip(STATE_FIELDS, arrays):
            setattr(acc, name, arr.copy())
        return acc

    def summary(self, metrics: str | Sequence[str] = ("mIoU",),
                class_names: Sequence[str] | None = None, nan_to_num: float | None = None,
                beta: float = 1) -> dict[str, Any]:
        """The metrics of the images so far, in percent.

        Args:
            metrics: Names from ``ALLOWED_METRICS`` (mIoU is always computed).
            class_names: C names, stored as ``class_names``.
            nan_to_num: Replace NaN (an undefined class value) by this value.
            beta: The F-score's beta.

        Returns:
            aAcc, mIoU, mAcc (+ mDice, mFscore, mPrecision, mRecall when asked), per-class
            lists IoU, Acc (+ Dice, Fscore, Precision, Recall; NaN = undefined) and
            ``num_images``.

        Raises:
            KeyError: An unknown metric name.
            ValueError: ``class_names`` is not C long.
        """
        per_class = total_area_to_metrics(self.area_intersect, self.area_union,
                                          self.area_pred_label, self.area_label,
                                          metrics, nan_to_num, beta)
        out = {"aAcc": float(per_class.pop("aAcc")) * 100}
        for key, values in per_class.items():
            out["m" + key] = _nanmean(values) * 100
        for key, values in per_class.items():
            out[key] = [float(v) * 100 for v in values]
        if class_names is not None:
            if len(class_names) != self.num_classes:
                raise ValueError(f"{len(class_names)} class names for {self.num_classes} classes")
            out["class_names"] = list(class_names)
        out["num_images"] = self.num_images
        return out
