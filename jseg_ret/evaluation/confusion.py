"""Streaming confusion matrix: rows = label class, columns = predicted class, pixel counts.

Counted over the same pixels as IoUAccumulator (label not ``ignore_index``, label and prediction
in [0, num_classes)), so the diagonal equals ``area_intersect`` and, for predictions in range,
the row sums equal ``area_label``. Opt-in in the evaluator: it costs C×C per image.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .metrics import ClassAccumulator, flat_pair


class ConfusionAccumulator(ClassAccumulator):
    """Fold predictions into a (C, C) int64 ``matrix`` one image at a time.

    Arguments: as ``ClassAccumulator`` (num_classes, ignore_index, reduce_zero_label).
    """

    def reset(self) -> None:
        """Forget every image: all counts zero."""
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred: Any, gt: Any) -> ConfusionAccumulator:
        """Add one image's pixels; arguments, result and errors as ``IoUAccumulator.update``."""
        pred, gt = flat_pair(pred, gt, self.reduce_zero_label)
        c = self.num_classes
        keep = (gt != self.ignore_index) & (gt >= 0) & (gt < c) & (pred >= 0) & (pred < c)
        self.matrix += np.bincount(gt[keep] * c + pred[keep], minlength=c * c).reshape(c, c)
        return self

    def merge_state(self, summed: Any) -> ConfusionAccumulator:
        """Replace the counts by ``summed`` (e.g. the all-reduced sum over MPI ranks).

        Returns:
            ``self``.

        Raises:
            ValueError: ``summed`` is not (C, C).
        """
        summed = np.asarray(summed)
        if summed.shape != self.matrix.shape:
            raise ValueError(f"confusion state {summed.shape} != {self.matrix.shape}")
        self.matrix = np.rint(summed).astype(np.int64)
        return self

    def normalized(self) -> np.ndarray:
        """The matrix with each row divided by its sum (NaN rows for absent label classes)."""
        return normalize_rows(self.matrix)


def normalize_rows(matrix: Any) -> np.ndarray:
    """Row-normalize a count matrix (rows = label class); absent classes give NaN rows."""
    matrix = np.asarray(matrix, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return matrix / matrix.sum(axis=1, keepdims=True)


__all__ = ["ConfusionAccumulator", "normalize_rows"]
