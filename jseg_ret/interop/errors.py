"""The one error type of the interop package.

Every message names the file (or key) and says what was expected, so a user can act on it
without reading this code.
"""
import reprlib

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80


def shown(value):
    """A bounded repr of a value read from a file (a crafted huge value stays short)."""
    return _SHORT.repr(value)


class CheckpointError(RuntimeError):
    """A checkpoint could not be read, written or loaded into a model."""
