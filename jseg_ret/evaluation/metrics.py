"""Streaming IoU metrics with mmseg's definitions.

Per class c, over all images, excluding ignore pixels: area_intersect (pred = gt = c),
area_pred_label (pred = c), area_label (gt = c), area_union = pred + label - intersect.
IoU = intersect / union, Acc = intersect / label, Dice = 2 intersect / (pred + label),
Precision = intersect / pred, Recall = Acc, F = (1 + b^2) P R / (b^2 P + R).
A class with a zero denominator gets NaN and is left out of the mean (nanmean).
aAcc = sum(intersect) / sum(label). Summary values are in percent.
"""
import numpy as np

ALLOWED_METRICS = ("mIoU", "mDice", "mFscore")
STATE_FIELDS = ("area_intersect", "area_union", "area_pred_label", "area_label")


def _as_numpy(x):
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy"):  # jittor.Var (or torch.Tensor)
        return x.numpy()
    return np.asarray(x)


def reduce_zero_label_map(label):
    """0 -> 255, v -> v - 1, 255 stays 255 (mmseg's reduce_zero_label, without uint8 wrap)."""
    label = label.astype(np.int64)
    out = label - 1
    out[label == 0] = 255
    out[label == 255] = 255
    return out


def intersect_and_union(pred, label, num_classes, ignore_index=255, reduce_zero_label=False):
    """The four per-class areas (int64 arrays of length num_classes) of one image.

    Pixels whose label is ``ignore_index`` are excluded; predictions or labels outside
    [0, num_classes) count for nothing (as torch.histc in mmseg).
    """
    pred = _as_numpy(pred)
    label = _as_numpy(label)
    if pred.shape != label.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from label shape {label.shape}")
    if reduce_zero_label:
        label = reduce_zero_label_map(label)
    pred = pred.ravel().astype(np.int64, copy=False)
    label = label.ravel().astype(np.int64, copy=False)
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


def f_score(precision, recall, beta=1):
    return (1 + beta ** 2) * (precision * recall) / ((beta ** 2 * precision) + recall)


def total_area_to_metrics(area_intersect, area_union, area_pred_label, area_label,
                          metrics=("mIoU",), nan_to_num=None, beta=1):
    """Per-class metric arrays (fractions) plus aAcc, as mmseg's total_area_to_metrics."""
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


def _nanmean(values):
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.any(~np.isnan(values)) else float("nan")


class IoUAccumulator:
    """Fold predictions into per-class areas one image at a time; memory stays O(num_classes).

    ``update(pred, gt)`` takes integer maps of one image (numpy or Jittor). ``state()`` gives the
    four float64 arrays (intersect, union, pred, label; a dict) to sum across MPI ranks, and
    ``from_state`` rebuilds an accumulator from the summed arrays.
    """

    def __init__(self, num_classes, ignore_index=255, reduce_zero_label=False):
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.reset()

    def reset(self):
        self.area_intersect = np.zeros(self.num_classes, dtype=np.float64)
        self.area_union = np.zeros(self.num_classes, dtype=np.float64)
        self.area_pred_label = np.zeros(self.num_classes, dtype=np.float64)
        self.area_label = np.zeros(self.num_classes, dtype=np.float64)
        self.num_images = 0

    def update(self, pred, gt):
        areas = intersect_and_union(pred, gt, self.num_classes, self.ignore_index,
                                    self.reduce_zero_label)
        self.area_intersect += areas[0]
        self.area_union += areas[1]
        self.area_pred_label += areas[2]
        self.area_label += areas[3]
        self.num_images += 1
        return self

    def merge(self, other):
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge accumulators of {other.num_classes} and "
                             f"{self.num_classes} classes")
        for name in STATE_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.num_images += other.num_images
        return self

    def state(self):
        """The four per-class areas as float64 copies, keyed (in this order) by STATE_FIELDS:
        area_intersect, area_union, area_pred_label, area_label. Sum each across ranks."""
        return {name: getattr(self, name).copy() for name in STATE_FIELDS}

    @classmethod
    def from_state(cls, state, num_classes=None, ignore_index=255, reduce_zero_label=False):
        """An accumulator holding ``state`` (e.g. summed over MPI ranks): the dict of
        ``state()``, four arrays in STATE_FIELDS order, or one (4, C) array."""
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

    def summary(self, metrics=("mIoU",), class_names=None, nan_to_num=None, beta=1):
        """Dict in percent: aAcc, mIoU, mAcc (+ mDice, mFscore, mPrecision, mRecall when asked)
        and per-class lists IoU, Acc (+ Dice, Fscore, Precision, Recall); NaN = undefined."""
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
