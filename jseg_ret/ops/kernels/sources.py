"""The kernel source files of ``ops/kernels/``, each read once: a ``jt.code`` op takes whole files
as its ``cpu_header``/``cuda_header`` (a kernel file after the helper files it needs) and its src
string only calls the entry points."""
import functools
import os

KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=None)
def kernel_source(*names):
    """The text of ``ops/kernels/<name>`` for each name, in order (helpers first; each file
    has its include guard); refuses a file with '@', which Jittor's code-op preprocessor
    would expand."""
    texts = []
    for name in names:
        path = os.path.join(KERNEL_DIR, name)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if "@" in text:
            raise RuntimeError(f"{path} contains '@', which Jittor's code-op preprocessor "
                               f"would expand")
        texts.append(text)
    return "\n".join(texts)


__all__ = ["KERNEL_DIR", "kernel_source"]
