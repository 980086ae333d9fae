"""Per-class tables and the JSON summary file."""
import json
import math
import os
import tempfile

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


def format_table(summary, class_names=None):
    """A per-class table (IoU, Acc, ...) and a summary table (aAcc, mIoU, mAcc, ...), in percent."""
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


def save_summary_json(summary, path):
    """Write ``summary`` as JSON (NaN -> null) atomically: a temporary file, then a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".summary-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_json_safe(summary), f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
