"""The kernel source files of ``ops/kernels/``, each read once: a ``jt.code`` op takes one whole
file as its ``cpu_header``/``cuda_header`` and its src string only calls the entry points."""
import functools
import os

KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=None)
def kernel_source(name):
    """The text of ``ops/kernels/<name>``; refuses a file with '@', which Jittor's code-op
    preprocessor would expand."""
    path = os.path.join(KERNEL_DIR, name)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if "@" in text:
        raise RuntimeError(f"{path} contains '@', which Jittor's code-op preprocessor would "
                           f"expand")
    return text


__all__ = ["KERNEL_DIR", "kernel_source"]
