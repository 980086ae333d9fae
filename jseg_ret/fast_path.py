"""The one switch for the CPU execution choices (a leaf module: imports nothing of the package).

``JSEG_RET_FAST_PATH=0`` (or ``with fast_path(False): ...``) selects the plain formulation:
networks built inside it keep the NCHW layout of the published code, and the ops in
``jseg_ret.ops`` use Jittor's generic kernels (no oneDNN channels-last convolution, no CPU
LayerNorm kernel). The layout is chosen when a network is *built*; kernels when an op runs.
On by default.
"""
import contextlib
import os

_ENABLED = [os.environ.get("JSEG_RET_FAST_PATH", "1").strip().lower() not in ("0", "false", "no")]


def fast_path_enabled():
    """Whether the CPU execution choices are on (default; ``JSEG_RET_FAST_PATH=0`` turns off)."""
    return _ENABLED[0]


@contextlib.contextmanager
def fast_path(enabled):
    """Turn the CPU execution choices on or off inside the block (restored afterwards)."""
    old = _ENABLED[0]
    _ENABLED[0] = bool(enabled)
    try:
        yield
    finally:
        _ENABLED[0] = old


__all__ = ["fast_path", "fast_path_enabled"]
