"""Read the reference state-dict tables (``shared/reference/*.tsv``).

Format: ``key<TAB>(shape)`` per line; lines starting with ``#`` are headers.
"""
import ast
from collections import OrderedDict

from .errors import CheckpointError


def read_reference_table(path):
    """OrderedDict key -> shape tuple, in the table's order."""
    out = OrderedDict()
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            try:
                key, shape = line.rstrip("\n").split("\t")
                out[key] = tuple(ast.literal_eval(shape))
            except (ValueError, SyntaxError) as e:
                raise CheckpointError(f"{path}:{lineno}: expected 'key<TAB>(shape)', "
                                      f"got {line.strip()!r}") from e
    return out
