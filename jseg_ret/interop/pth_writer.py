"""Write PyTorch zip-format ``.pth`` files from numpy arrays, without importing PyTorch.

The result loads with ``torch.load(path)`` under its default ``weights_only=True``: the pickle
names only globals in torch's weights-only allowlist (``torch._utils._rebuild_tensor_v2``,
``torch.<Type>Storage``, ``collections.OrderedDict``, ``_codecs.encode`` for bytes).

Layout (as ``torch.save`` writes it): ``archive/data.pkl`` (pickle protocol 2, storages as
persistent ids ``('storage', torch.FloatStorage, key, 'cpu', numel)``), ``archive/data/<key>``
(raw little-endian bytes, records 64-byte aligned), ``.format_version``, ``.storage_alignment``,
``byteorder``, ``version``, ``.data/serialization_id``. Written atomically
(``utils.fileio.atomic_open``), so a crash never leaves a half-written checkpoint.
"""
from __future__ import annotations

import io
import os
import pickle
import struct
import uuid
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

from ..utils.fileio import PathLike, atomic_open
from .errors import CheckpointError

ARCHIVE = "archive"
ALIGNMENT = 64
# numpy dtype -> torch storage class (numpy has no bfloat16; uint16/32/64 have no storage class)
STORAGE_NAMES = {
    np.dtype(np.float64): "DoubleStorage",
    np.dtype(np.float32): "FloatStorage",
    np.dtype(np.float16): "HalfStorage",
    np.dtype(np.int64): "LongStorage",
    np.dtype(np.int32): "IntStorage",
    np.dtype(np.int16): "ShortStorage",
    np.dtype(np.int8): "CharStorage",
    np.dtype(np.uint8): "ByteStorage",
    np.dtype(np.bool_): "BoolStorage",
    np.dtype(np.complex64): "ComplexFloatStorage",
    np.dtype(np.complex128): "ComplexDoubleStorage",
}


def save_pth(state: Any, path: PathLike) -> str:
    """Save ``state`` (dicts/lists of numpy arrays and plain values) as a zip ``.pth`` file.

    Args:
        state: The checkpoint, usually ``{"meta": {...}, "state_dict": {name: ndarray}}``.
        path: The ``.pth`` to write; its folder must exist.

    Returns:
        ``path``.

    Raises:
        CheckpointError: A value a weights-only ``torch.load`` cannot read, or no such folder.
        OutputWriteError: The write failed (disk full, permission); ``path`` is unchanged.
    """
    path = os.fspath(path)
    state = _sanitize(state, path, "checkpoint")
    storages = []
    buf = io.BytesIO()
    _Pickler(buf, storages).dump(state)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CheckpointError(f"{path}: directory {directory} does not exist")
    with atomic_open(path, "wb", "the checkpoint") as f:
        _write_zip(f, buf.getvalue(), storages)
    return path


# ---- pickling ------------------------------------------------------------------------------------

class _Global:
    """A global written by name (``module\\nname``) without importing its module."""

    def __init__(self, module, name):
        self.module, self.name = module, name
        self.__name__ = name

    def __call__(self, *args):  # pickle's save_reduce insists on a callable
        raise TypeError(f"{self.module}.{self.name} is only a name for pickling")


_REBUILD_TENSOR = _Global("torch._utils", "_rebuild_tensor_v2")
_STORAGE_GLOBALS = {dt: _Global("torch", name) for dt, name in STORAGE_NAMES.items()}


class _Storage:
    def __init__(self, key, dtype, data):
        self.key, self.dtype, self.data = key, dtype, data


class _Pickler(pickle._Pickler):  # the python pickler lets save() be overridden per object
    def __init__(self, file, storages):
        super().__init__(file, protocol=2)
        self.storages = storages

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            numel = len(obj.data) // obj.dtype.itemsize
            return ("storage", _STORAGE_GLOBALS[obj.dtype], obj.key, "cpu", numel)
        return None

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            memo = self.memo.get(id(obj))
            if memo is not None:
                self.write(self.get(memo[0]))
                return
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("utf-8"))
            self.memoize(obj)
            return
        if isinstance(obj, np.ndarray) and id(obj) not in self.memo:
            self._save_tensor(obj)
            return
        super().save(obj, save_persistent_id)

    def _save_tensor(self, arr):
        dtype = arr.dtype.newbyteorder("=")
        data = np.ascontiguousarray(arr).astype(dtype.newbyteorder("<"), copy=False).tobytes()
        storage = _Storage(str(len(self.storages)), dtype, data)
        self.storages.append(storage)
        stride, acc = [], 1
        for n in reversed(arr.shape):  # contiguous strides, in elements
            stride.insert(0, acc)
            acc *= max(n, 1)
        args = (storage, 0, tuple(int(n) for n in arr.shape), tuple(stride), False, OrderedDict())
        self.save_reduce(_REBUILD_TENSOR, args, obj=arr)


def _sanitize(obj, path, where):
    """Check that ``obj`` holds only what torch's weights-only loader accepts; numpy scalars
    become python numbers. Unsupported values raise ``CheckpointError`` naming where they are."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.newbyteorder("=") not in STORAGE_NAMES:
            raise CheckpointError(f"{path}: {where} has dtype {obj.dtype}, which a .pth cannot "
                                  f"store; supported: {sorted(str(d) for d in STORAGE_NAMES)}")
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, bytes, bool, int, float, complex)):
        return obj
    if isinstance(obj, dict):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool, tuple)) and k is not None:
                raise CheckpointError(f"{path}: {where} has a key of type {type(k).__name__}")
            out[k] = _sanitize(v, path, f"{where}[{k!r}]")
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [_sanitize(v, path, f"{where}[{i}]") for i, v in enumerate(obj)]
        return type(obj)(items) if not isinstance(obj, frozenset) else set(items)
    raise CheckpointError(
        f"{path}: {where} is a {type(obj).__module__}.{type(obj).__name__}; a .pth loadable with "
        "torch.load(weights_only=True) holds only arrays, dicts, lists, tuples and plain values "
        "(convert Jittor Vars with .numpy())")


# ---- zip container -------------------------------------------------------------------------------

def _write_zip(f, pkl, storages):
    records = [("data.pkl", pkl), (".format_version", b"1"),
               (".storage_alignment", str(ALIGNMENT).encode()), ("byteorder", b"little")]
    records += [(f"data/{s.key}", s.data) for s in storages]
    records += [("version", b"3\n"),
                (".data/serialization_id", str(uuid.uuid4().int).zfill(40)[:40].encode())]
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, data in records:
            info = zipfile.ZipInfo(f"{ARCHIVE}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.extra = _padding(f.tell(), info.filename)
            zf.writestr(info, data)


def _padding(offset, name):
    """Extra field that puts the record's data on a 64-byte boundary (torch does the same,
    so a saved file can be memory-mapped by torch.load(mmap=True))."""
    header = 30 + len(name.encode("utf-8")) + 4  # local header + name + extra-field header
    pad = (-(offset + header)) % ALIGNMENT
    return struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # 'FB' id, as PyTorch's writer uses
