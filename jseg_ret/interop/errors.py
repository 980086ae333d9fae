"""The one error type of the interop package.

Every message names the file (or key) and says what was expected, so a user can act on it
without reading this code.
"""


class CheckpointError(RuntimeError):
    """A checkpoint could not be read, written or loaded into a model."""
