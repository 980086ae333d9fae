"""Jittor ``.pkl`` checkpoints (this project's format): ``jt.save({'meta', 'state_dict', ...})``.

``jt.save`` writes ``pickle.dumps(obj, 4) + sha1 + b'HCAJSLHD'``. ``jt.load`` is a plain
``pickle.load`` and would run any code a downloaded file names, so reading goes through the same
whitelisting unpickler as ``.pth`` files (plus ``jittor_core.Var``, read back as its numpy array)
after checking the checksum. Writing uses ``jt.save`` through ``utils.fileio.atomic_path``.
"""
from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import jittor as jt

from ..utils.fileio import PathLike, atomic_path
from .errors import CheckpointError
from .inert import materialize
from .safe_pickle import SafeUnpickler, standin_leaf

JITTOR_TRAILER = b"HCAJSLHD"
_CHECKSUM_LEN = 20  # sha1


def _var_as_numpy(array, *args):
    return array  # jt.Var pickles as jittor_core.Var(ndarray); keep the ndarray


_JITTOR_GLOBALS = {("jittor", "jittor_core.Var"): _var_as_numpy,
                   ("jittor_core", "Var"): _var_as_numpy}


def is_jittor_pkl(path: PathLike) -> bool:
    """True when the file ends with ``jt.save``'s trailer."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < len(JITTOR_TRAILER):
                return False
            f.seek(-len(JITTOR_TRAILER), os.SEEK_END)
            return f.read() == JITTOR_TRAILER
    except OSError:
        return False


def load_pkl(path: PathLike) -> Any:
    """Read a ``jt.save`` file safely (whitelisting unpickler, checksum checked).

    Args:
        path: The ``.pkl`` file.

    Returns:
        The saved object; Jittor Vars come back as numpy arrays.

    Raises:
        CheckpointError: A missing, unreadable, corrupt or unsafe file (naming it).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file (expected a Jittor .pkl checkpoint)")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from e
    if data.endswith(JITTOR_TRAILER):
        body = data[:-len(JITTOR_TRAILER) - _CHECKSUM_LEN]
        checksum = data[-len(JITTOR_TRAILER) - _CHECKSUM_LEN:-len(JITTOR_TRAILER)]
        if hashlib.sha1(body).digest() != checksum:
            raise CheckpointError(f"{path}: checksum mismatch (truncated or corrupt Jittor .pkl)")
        data = body
    try:
        obj = SafeUnpickler(io.BytesIO(data), path, extra=_JITTOR_GLOBALS).load()
    except CheckpointError as e:
        raise CheckpointError(f"{e}. If you trust this file, load it with jittor.load(path) and "
                              "pass the resulting dict instead of the path") from e
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable Jittor .pkl checkpoint "
                              f"({type(e).__name__}: {e})") from e
    try:
        return materialize(obj, standin_leaf)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None


def save_pkl(obj: Any, path: PathLike) -> str:
    """``jt.save(obj, path)`` atomically (``utils.fileio.atomic_path``).

    Args:
        obj: What to save (a dict of numpy arrays and plain values, usually).
        path: The ``.pkl`` to write; its folder must exist.

    Returns:
        ``path``.

    Raises:
        CheckpointError: The folder does not exist.
        OutputWriteError: The write failed (disk full, permission); ``path`` is unchanged.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CheckpointError(f"{path}: directory {directory} does not exist")
    # the temporary ends in .pkl: jt.save picks its format from the extension
    with atomic_path(path, "the checkpoint", suffix=".pkl") as tmp:
        jt.save(obj, tmp)
    return path
