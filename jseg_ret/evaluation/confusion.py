"""Streaming confusion matrix: rows = label class, columns = predicted class, pixel counts.

Counted over the same pixels as IoUAccumulator (label not ``ignore_index``, label and prediction
in [0, num_classes)), so the diagonal equals ``area_intersect`` and, for predictions in range,
the row sums equal ``area_label``. Opt-in in the evaluator: it costs C×C per image.
"""
import numpy as np

from .metrics import _as_numpy, reduce_zero_label_map


class ConfusionAccumulator:
    def __init__(self, num_classes, ignore_index=255, reduce_zero_label=False):
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred, gt):
        pred, gt = _as_numpy(pred), _as_numpy(gt)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction shape {pred.shape} differs from label shape {gt.shape}")
        if self.reduce_zero_label:
            gt = reduce_zero_label_map(gt)
        pred = pred.ravel().astype(np.int64, copy=False)
        gt = gt.ravel().astype(np.int64, copy=False)
        c = self.num_classes
        keep = (gt != self.ignore_index) & (gt >= 0) & (gt < c) & (pred >= 0) & (pred < c)
        self.matrix += np.bincount(gt[keep] * c + pred[keep], minlength=c * c).reshape(c, c)
        return self

    def merge_state(self, summed):
        """Replace the counts by ``summed`` (e.g. the all-reduced sum over MPI ranks)."""
        summed = np.asarray(summed)
        if summed.shape != self.matrix.shape:
            raise ValueError(f"confusion state {summed.shape} != {self.matrix.shape}")
        self.matrix = np.rint(summed).astype(np.int64)
        return self

    def normalized(self):
        return normalize_rows(self.matrix)


def normalize_rows(matrix):
    """Row-normalize a count matrix (rows = label class); absent classes give NaN rows."""
    matrix = np.asarray(matrix, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return matrix / matrix.sum(axis=1, keepdims=True)


__all__ = ["ConfusionAccumulator", "normalize_rows"]
