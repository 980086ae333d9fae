"""Per-class tables and the JSON summary file."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ..utils.fileio import PathLike, write_json

_PER_CLASS_ORDER = ("IoU", "Acc", "Dice", "Fscore", "Precision", "Recall")
_SUMMARY_ORDER = ("aAcc", "mIoU", "mAcc", "mDice", "mFscore", "mPrecision", "mRecall")


def _fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return f"{v:.2f}"


def _table(header, rows):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    def fmt_row(r):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join([line, fmt_row(header), line] + [fmt_row(r) for r in rows] + [line])


def format_table(summary: Mapping[str, Any], class_names: Sequence[str] | None = None) -> str:
    """A per-class table (IoU, Acc, ...) and a summary table (aAcc, mIoU, mAcc, ...), in percent.

    Args:
        summary: What ``IoUAccumulator.summary`` returns.
        class_names: One name per class; ``summary["class_names"]`` or the indices when None.

    Returns:
        The two tables as text.

    Raises:
        ValueError: The number of names differs from the number of classes.
    """
    cols = [k for k in _PER_CLASS_ORDER if k in summary]
    n = len(summary[cols[0]]) if cols else 0
    names = class_names or summary.get("class_names") or [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} class names for {n} classes")
    rows = [[name] + [_fmt(summary[c][i]) for c in cols] for i, name in enumerate(names)]
    per_class = _table(["Class"] + cols, rows)
    keys = [k for k in _SUMMARY_ORDER if k in summary]
    overall = _table(keys, [[_fmt(summary[k]) for k in keys]])
    return "per class results:\n" + per_class + "\nSummary:\n" + overall


def _json_safe(value):
    if isinstance(value, float) and math.isnan(value):
        return None  # JSON has no NaN
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist"):
        return _json_safe(value.tolist())
    return value


def save_summary_json(summary: Mapping[str, Any], path: PathLike) -> str:
    """Write ``summary`` as JSON (NaN -> null) atomically, making its folder if needed.

    Args:
        summary: The metrics (numbers, lists, numpy arrays, nested dicts).
        path: The ``.json`` to write.

    Returns:
        ``path``.

    Raises:
        OutputWriteError: The write failed; an existing ``path`` keeps its old content.
    """
    return write_json(path, _json_safe(summary), "the evaluation summary", makedirs=True)
