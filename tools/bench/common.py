"""Shared helpers for benchmark modes: machine description, timing, table + JSON output."""
import json
import os
import platform
import statistics
import time


def machine_info():
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "processor": platform.processor()}
    try:
        import jseg_ret  # noqa: F401  (prepares Jittor: CPU fallback, oneDNN)
        import jittor as jt
        info["jittor"] = jt.__version__
        info["use_cuda"] = int(jt.flags.use_cuda)
    except Exception:  # benchmark modes without Jittor still describe the machine
        pass
    try:
        import numpy as np
        info["numpy"] = np.__version__
    except ImportError:
        pass
    return info


def time_fn(fn, warmup=2, repeats=5, sync=None):
    """Median and all wall times (seconds) of ``fn()`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def print_table(rows, columns):
    widths = [max(len(str(c)), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def emit_json(record, path=None):
    text = json.dumps(record, indent=2, default=str)
    print("JSON:", text)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        with open(path, "w") as f:
            f.write(text + "\n")
