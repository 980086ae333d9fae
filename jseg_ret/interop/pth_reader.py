"""Read PyTorch ``.pth`` checkpoints into numpy arrays without importing PyTorch.

Two on-disk formats exist:

- zip (``torch.save`` since 1.6): ``<archive>/data.pkl`` is the pickled object, each storage is the
  raw little- (or, per ``<archive>/byteorder``, big-) endian record ``<archive>/data/<key>``;
- legacy (before 1.6, or ``_use_new_zipfile_serialization=False``): consecutive pickles of the
  magic number, the protocol version and ``sys_info``, then the main pickle, then the list of
  storage keys, then each storage as an 8-byte little-endian element count and its raw bytes.

Both pickles refer to storages through persistent ids; tensors are ``_rebuild_tensor_v2(storage,
offset, size, stride, ...)`` calls. Pickles go through ``SafeUnpickler`` (a whitelist), tensors
are first placeholders and become independent, contiguous numpy arrays at the end, so storages
shared by several tensors and strided views (transposes, slices) come out right.

Sizes come from the file, so they are checked before anything is allocated: a storage must be
backed by that many bytes in the file, a tensor must lie within its storage and hold no more
elements than it (no zero-stride or overlapping expansion), and all the data built from one file
(decompressed records, storages, tensors) is bounded by ``4 x file size + 64 MiB`` — so a small
crafted file (a deflate bomb, a broadcast view) is refused with a message naming the tensor.
"""
from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
from typing import Any

import numpy as np

from .errors import CheckpointError, shown
from .inert import materialize
from .safe_pickle import SafeUnpickler, StorageRef, StorageType, TensorRef, standin_leaf

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
_EXPECTED = "a PyTorch checkpoint (torch.save zip or legacy format)"
_BUDGET_FACTOR, _BUDGET_SLACK = 4, 64 * 2 ** 20
_MAX_DIM = 2 ** 62


def load_pth(path: str | os.PathLike[str]) -> Any:
    """Read a ``.pth`` file (zip or legacy ``torch.save`` format) without PyTorch.

    bfloat16 tensors become float32 (numpy has no bfloat16); other dtypes are kept.

    Args:
        path: The file.

    Returns:
        The saved object with every tensor as a numpy array; typically
        ``{'meta': {...}, 'state_dict': OrderedDict(name -> ndarray)}``.

    Raises:
        CheckpointError: A missing, truncated, foreign or unsafe file (naming it).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such file (expected {_EXPECTED})")
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: is a directory (expected {_EXPECTED} file)")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if head[:2] == b"PK":
            if not zipfile.is_zipfile(path):
                raise CheckpointError(
                    f"{path}: truncated or corrupt zip checkpoint (the zip directory at the end "
                    "of the file is missing; was the download or save interrupted?)")
            return _load_zip(path)
        if tarfile.is_tarfile(path):
            raise CheckpointError(f"{path}: tar-format checkpoint of PyTorch < 0.4 is not "
                                  "supported; re-save it with a newer PyTorch")
        return _load_legacy(path)
    except OSError as e:  # unreadable (permissions, I/O error): name the file, no traceback
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from e


# ---- zip format ----------------------------------------------------------------------------------

def _load_zip(path):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path}: unreadable zip checkpoint ({e})") from e
    budget = _Budget(path)
    with zf:
        names = zf.namelist()
        pkls = [n for n in names if n.endswith("data.pkl") and n.count("/") <= 1]
        if len(pkls) != 1:
            what = "TorchScript archive" if any(n.endswith("constants.pkl") for n in names) \
                else "zip file"
            raise CheckpointError(f"{path}: {what} without a single '<archive>/data.pkl' record "
                                  f"(expected {_EXPECTED})")
        prefix = pkls[0][:-len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = _read_member(path, zf, prefix + "byteorder", 16, budget).decode(
                "ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise CheckpointError(f"{path}: byteorder record says {byteorder!r}, "
                                  "expected 'little' or 'big'")
        storages = {}

        def persistent_load(pid):
            key, stype, numel = _parse_pid(path, pid)
            if key not in storages:
                storages[key] = StorageRef(key, stype, numel)
            return storages[key]

        pkl = _read_member(path, zf, pkls[0], None, budget)
        obj = _unpickle(path, pkl, persistent_load, "zip")
        order = "<" if byteorder == "little" else ">"

        def read_storage(ref, where):
            record = f"{prefix}data/{ref.key}"
            if record not in names:
                raise CheckpointError(f"{path}: storage record '{record}' (of {where}) is "
                                      "missing (truncated or corrupt checkpoint)")
            nbytes = ref.numel * ref.stype.dtype.itemsize
            declared = zf.getinfo(record).file_size
            if declared < nbytes:
                raise CheckpointError(
                    f"{path}: storage '{ref.key}' of {where} declares {ref.numel} x {ref.stype} "
                    f"= {nbytes} bytes, but its record holds {declared} bytes (truncated, "
                    "corrupt or crafted checkpoint)")
            budget.charge(nbytes, f"storage '{ref.key}' of {where}")
            raw = _read_member(path, zf, record, nbytes, None)
            return _storage_array(path, ref, raw, order)

        return _materialize(obj, path, read_storage, budget)


def _read_member(path, zf, name, nbytes, budget):
    """At most ``nbytes`` (None: all) of a zip record; a compressed record's inflated size is
    charged to ``budget`` first, so a deflate bomb is refused before it is inflated."""
    info = zf.getinfo(name)
    size = info.file_size if nbytes is None else min(nbytes, info.file_size)
    if budget is not None and info.compress_type != zipfile.ZIP_STORED:
        budget.charge(size, f"the compressed record '{name}'")
    elif budget is not None and size > budget.file_size:
        raise CheckpointError(f"{path}: record '{name}' declares {size} bytes but the file "
                              f"holds only {budget.file_size} (corrupt or crafted)")
    try:
        with zf.open(info) as f:
            data = f.read(size)  # never more than asked, whatever the record's header says
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        raise CheckpointError(f"{path}: record '{name}' is unreadable (truncated or corrupt "
                              f"checkpoint: {e})") from e
    if len(data) != size:
        raise CheckpointError(f"{path}: record '{name}' holds {len(data)} bytes, expected "
                              f"{size} (truncated checkpoint)")
    return data


def _parse_pid(path, pid):
    # ('storage', storage_type, key, location, numel)
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
            and isinstance(pid[1], StorageType) and type(pid[4]) is int and pid[4] >= 0):
        raise CheckpointError(f"{path}: unexpected persistent id {shown(pid)} "
                              "(expected ('storage', torch.<Type>Storage, key, location, numel))")
    return str(pid[2]), pid[1], pid[4]


def _storage_array(path, ref, raw, order):
    dtype = ref.stype.dtype.newbyteorder(order) if ref.stype.dtype.itemsize > 1 else ref.stype.dtype
    nbytes = ref.numel * dtype.itemsize
    if len(raw) < nbytes:
        raise CheckpointError(f"{path}: storage '{ref.key}' has {len(raw)} bytes, expected "
                              f"{nbytes} ({ref.numel} x {ref.stype}); truncated checkpoint")
    return np.frombuffer(raw, dtype=dtype, count=ref.numel)


# ---- legacy format -------------------------------------------------------------------------------

def _load_legacy(path):
    budget = _Budget(path)
    with open(path, "rb") as f:
        try:
            magic = SafeUnpickler(f, path).load()
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"{path}: not {_EXPECTED} (its start is neither a zip archive "
                                  f"nor a pickled PyTorch magic number: {type(e).__name__})") from e
        if magic != LEGACY_MAGIC:
            raise CheckpointError(f"{path}: not {_EXPECTED} (wrong magic number)")
        storages = {}

        def persistent_load(pid):
            if not isinstance(pid, tuple) or not pid:
                raise CheckpointError(f"{path}: unexpected persistent id {shown(pid)}")
            if pid[0] == "module":
                raise CheckpointError(f"{path}: holds a whole pickled nn.Module, which cannot be "
                                      "read safely; save model.state_dict() instead")
            if pid[0] != "storage" or len(pid) < 6 or not isinstance(pid[1], StorageType) \
                    or type(pid[4]) is not int or pid[4] < 0:
                raise CheckpointError(f"{path}: unexpected persistent id {shown(pid)}")
            _, stype, root_key, _location, numel, view_metadata = pid[:6]
            root_key = str(root_key)
            if root_key not in storages:
                storages[root_key] = StorageRef(root_key, stype, numel)
            if view_metadata is None:
                return storages[root_key]
            view_key, offset, view_size = view_metadata  # storage views (very old files)
            view_key = str(view_key)
            if view_key not in storages:
                view = StorageRef(view_key, stype, int(view_size))
                view.base, view.base_offset = storages[root_key], int(offset)
                storages[view_key] = view
            return storages[view_key]

        try:
            protocol = SafeUnpickler(f, path).load()
            if protocol != LEGACY_PROTOCOL:
                raise CheckpointError(f"{path}: legacy protocol version {shown(protocol)}, "
                                      f"expected {LEGACY_PROTOCOL}")
            SafeUnpickler(f, path).load()  # sys_info: endianness and type sizes of the saver
            obj = SafeUnpickler(f, path, persistent_load).load()
            keys = SafeUnpickler(f, path).load()
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"{path}: truncated or corrupt legacy checkpoint "
                                  f"({type(e).__name__}: {e})") from e
        if not isinstance(keys, list):
            raise CheckpointError(f"{path}: legacy storage key list is {type(keys).__name__}, "
                                  "expected list")
        # each storage: an 8-byte element count, then its bytes; note where, read on first use
        offsets = {}
        for key in keys:
            ref = storages.get(str(key))
            if ref is None:
                raise CheckpointError(f"{path}: storage '{key}' is listed but never used")
            head = f.read(8)
            if len(head) != 8:
                raise CheckpointError(f"{path}: truncated legacy checkpoint "
                                      f"(storage '{key}' is missing)")
            count = struct.unpack("<q", head)[0]
            if count != ref.numel:
                raise CheckpointError(f"{path}: storage '{key}' holds {count} elements, "
                                      f"expected {ref.numel} (corrupt checkpoint)")
            nbytes = count * ref.stype.dtype.itemsize
            left = budget.file_size - f.tell()
            if nbytes > left:
                raise CheckpointError(
                    f"{path}: storage '{key}' declares {count} x {ref.stype} = {nbytes} bytes, "
                    f"but the file holds only {left} more bytes (truncated checkpoint)")
            offsets[ref.key] = f.tell()
            f.seek(nbytes, os.SEEK_CUR)

        def read_storage(ref, where):
            if ref.key not in offsets:
                raise CheckpointError(f"{path}: storage '{ref.key}' (of {where}) has no data "
                                      "(truncated checkpoint)")
            nbytes = ref.numel * ref.stype.dtype.itemsize
            budget.charge(nbytes, f"storage '{ref.key}' of {where}")
            f.seek(offsets[ref.key])
            return _storage_array(path, ref, f.read(nbytes), "<")  # legacy: little-endian

        return _materialize(obj, path, read_storage, budget)


# ---- shared --------------------------------------------------------------------------------------

class _Budget:
    """Bytes built from one file: at most ``4 x file size + 64 MiB`` (views sharing storage,
    bfloat16 widening and compressed records fit; crafted amplification does not)."""

    def __init__(self, path):
        self.path = path
        self.file_size = os.path.getsize(path)
        self.limit = _BUDGET_FACTOR * self.file_size + _BUDGET_SLACK
        self.used = 0

    def charge(self, nbytes, what):
        self.used += nbytes
        if self.used > self.limit:
            raise CheckpointError(
                f"{self.path}: {what} needs {nbytes} bytes, bringing the data built from this "
                f"{self.file_size}-byte file to {self.used} bytes, over the limit of "
                f"{self.limit} ({_BUDGET_FACTOR} x file size + 64 MiB): the file expands far "
                "beyond its size (a crafted or corrupt checkpoint)")


def _unpickle(path, data, persistent_load, fmt):
    try:
        return SafeUnpickler(io.BytesIO(data), path, persistent_load).load()
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path}: truncated or corrupt {fmt} checkpoint "
                              f"({type(e).__name__}: {e})") from e


def _materialize(obj, path, read_storage, budget):
    """Replace storage/tensor placeholders by numpy arrays, keeping container types."""

    def storage_array(ref, where):
        if ref.base is not None:  # legacy storage view: a slice of its root storage
            base = storage_array(ref.base, where)
            if ref.base_offset < 0 or ref.base_offset + ref.numel > base.size:
                raise CheckpointError(f"{path}: storage view '{ref.key}' of {where} "
                                      f"[{ref.base_offset}, +{ref.numel}) lies outside storage "
                                      f"'{ref.base.key}' of {base.size} elements")
            return base[ref.base_offset:ref.base_offset + ref.numel]
        if ref.data is None:
            ref.data = read_storage(ref, where)
        return ref.data

    def leaf(item, where):
        label = f"tensor '{where or '<top level>'}'"
        if isinstance(item, TensorRef):
            return _build_tensor(item, path, label, storage_array, budget)
        if isinstance(item, StorageRef):
            return _to_native(np.array(storage_array(item, label)), item.stype.bf16)
        return standin_leaf(item, where)

    try:
        return materialize(obj, leaf)
    except CheckpointError as e:
        if str(e).startswith(path):
            raise
        raise CheckpointError(f"{path}: {e}") from None


def _build_tensor(ref, path, label, storage_array, budget):
    stype = ref.storage.stype
    dtype, bf16 = (ref.dtype.dtype, ref.dtype.bf16) if ref.dtype is not None \
        else (stype.dtype, stype.bf16)
    if len(ref.size) != len(ref.stride):
        raise CheckpointError(f"{path}: {label} with size {ref.size} but stride {ref.stride}")
    if ref.offset < 0 or any(s < 0 for s in ref.stride) or any(n < 0 for n in ref.size) \
            or any(n > _MAX_DIM or s > _MAX_DIM for n, s in zip(ref.size, ref.stride)):
        raise CheckpointError(f"{path}: {label} with negative or huge offset/size/stride "
                              f"({ref.offset}, {ref.size}, {ref.stride})")
    numel = 1
    for n in ref.size:
        numel *= n
    # elements of ``dtype`` the storage holds (_rebuild_tensor_v3: an untyped byte storage)
    available = ref.storage.numel * stype.dtype.itemsize // dtype.itemsize
    if numel == 0:
        return _to_native(np.zeros(ref.size, dtype=dtype), bf16)
    if numel > available:
        raise CheckpointError(
            f"{path}: {label} has {numel} elements (size {ref.size}, stride {ref.stride}) but "
            f"its storage '{ref.storage.key}' holds {available}: a tensor may not expand beyond "
            "its data (zero or overlapping strides)")
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if last >= available:
        # as_strided does not check bounds: without this a crafted file could read any memory
        raise CheckpointError(
            f"{path}: {label} of size {ref.size}, stride {ref.stride}, offset {ref.offset} "
            f"needs {last + 1} elements but storage '{ref.storage.key}' has {available}")
    base = storage_array(ref.storage, label)  # checks the storage against the file first
    budget.charge(numel * (4 if bf16 else dtype.itemsize), label)
    if ref.dtype is not None:
        base = base[:available * dtype.itemsize].view(
            dtype.newbyteorder(base.dtype.byteorder) if dtype.itemsize > 1 else dtype)
    view = np.lib.stride_tricks.as_strided(
        base[ref.offset:], shape=ref.size,
        strides=tuple(s * base.itemsize for s in ref.stride), writeable=False)
    return _to_native(np.array(view, copy=True), bf16)


def _to_native(arr, bf16):
    """Contiguous, native byte order; bfloat16 bit patterns widened to float32."""
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if bf16:
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")  # keeps 0-d tensors 0-d
