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


# ------------------------------------------------------------------------------ memory (Linux)
def rss_mb():
    """Resident set size of this process, MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def reset_peak_rss():
    """Reset the kernel's RSS high-water mark (Linux >= 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb():
    """RSS high-water mark (VmHWM) since the last reset, MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # lifetime peak, KiB


def parse_shape(parser, shape):
    """``--shape H W`` or ``--shape S`` (square) -> [H, W]; a parser error otherwise."""
    if len(shape) == 1:
        shape = shape * 2
    if len(shape) != 2:
        parser.error("--shape takes H W or one value")
    return shape


class StealMeter:
    """Share of CPU time the hypervisor gave to other guests (``steal`` in /proc/stat) while the
    ``with`` block ran, in percent; None where /proc/stat has no steal column. On a shared VM a
    timing taken with high steal says more about the neighbours than about the code."""

    def __init__(self):
        self.percent = None

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        return (fields[7], sum(fields[:8])) if len(fields) >= 8 else None

    def __enter__(self):
        self._start = self._read()
        return self

    def __exit__(self, *exc):
        end = self._read()
        if self._start and end and end[1] > self._start[1]:
            self.percent = 100.0 * (end[0] - self._start[0]) / (end[1] - self._start[1])
        return False


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
