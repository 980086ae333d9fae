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
"""
import io
import os
import struct
import tarfile
import zipfile
from collections import OrderedDict

import numpy as np

from .errors import CheckpointError
from .safe_pickle import SafeUnpickler, StorageRef, StorageType, TensorRef

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
_EXPECTED = "a PyTorch checkpoint (torch.save zip or legacy format)"


def load_pth(path):
    """Read a ``.pth`` file; returns the saved object with every tensor as a numpy array.

    Typically a dict such as ``{'meta': {...}, 'state_dict': OrderedDict(name -> ndarray)}``.
    bfloat16 tensors become float32 (numpy has no bfloat16); other dtypes are kept.
    Raises ``CheckpointError`` (naming the file) for a missing, truncated, foreign or unsafe file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such file (expected {_EXPECTED})")
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: is a directory (expected {_EXPECTED} file)")
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK":
        if not zipfile.is_zipfile(path):
            raise CheckpointError(
                f"{path}: truncated or corrupt zip checkpoint (the zip directory at the end of "
                "the file is missing; was the download or save interrupted?)")
        return _load_zip(path)
    if tarfile.is_tarfile(path):
        raise CheckpointError(f"{path}: tar-format checkpoint of PyTorch < 0.4 is not supported; "
                              "re-save it with a newer PyTorch")
    return _load_legacy(path)


# ---- zip format ----------------------------------------------------------------------------------

def _load_zip(path):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path}: unreadable zip checkpoint ({e})") from e
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
            byteorder = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise CheckpointError(f"{path}: byteorder record says {byteorder!r}, "
                                  "expected 'little' or 'big'")
        storages = {}

        def persistent_load(pid):
            key, stype, numel = _parse_pid(path, pid)
            if key not in storages:
                storages[key] = StorageRef(key, stype, numel)
            return storages[key]

        obj = _unpickle(path, zf.read(pkls[0]), persistent_load, "zip")
        order = "<" if byteorder == "little" else ">"
        for key, ref in storages.items():
            record = f"{prefix}data/{key}"
            if record not in names:
                raise CheckpointError(f"{path}: storage record '{record}' is missing "
                                      "(truncated or corrupt checkpoint)")
            try:
                raw = zf.read(record)
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise CheckpointError(f"{path}: storage record '{record}' is unreadable "
                                      f"(truncated or corrupt checkpoint: {e})") from e
            ref.data = _storage_array(path, ref, raw, order)
    return _materialize(obj, path, {})


def _parse_pid(path, pid):
    # ('storage', storage_type, key, location, numel)
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
            and isinstance(pid[1], StorageType)):
        raise CheckpointError(f"{path}: unexpected persistent id {pid!r} "
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
                raise CheckpointError(f"{path}: unexpected persistent id {pid!r}")
            if pid[0] == "module":
                raise CheckpointError(f"{path}: holds a whole pickled nn.Module, which cannot be "
                                      "read safely; save model.state_dict() instead")
            if pid[0] != "storage" or len(pid) < 6 or not isinstance(pid[1], StorageType):
                raise CheckpointError(f"{path}: unexpected persistent id {pid!r}")
            _, stype, root_key, _location, numel, view_metadata = pid[:6]
            root_key = str(root_key)
            if root_key not in storages:
                storages[root_key] = StorageRef(root_key, stype, numel)
            if view_metadata is None:
                return storages[root_key]
            view_key, offset, view_size = view_metadata  # storage views (very old files)
            view_key = str(view_key)
            if view_key not in storages:
                view = StorageRef(view_key, stype, view_size)
                view.base, view.base_offset = storages[root_key], int(offset)
                storages[view_key] = view
            return storages[view_key]

        try:
            protocol = SafeUnpickler(f, path).load()
            if protocol != LEGACY_PROTOCOL:
                raise CheckpointError(f"{path}: legacy protocol version {protocol!r}, "
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
            raw = f.read(count * ref.stype.dtype.itemsize)
            ref.data = _storage_array(path, ref, raw, "<")  # legacy data is always little-endian
    for key, ref in storages.items():
        if ref.base is None and ref.data is None:
            raise CheckpointError(f"{path}: storage '{key}' has no data (truncated checkpoint)")
    return _materialize(obj, path, {})


# ---- shared --------------------------------------------------------------------------------------

def _unpickle(path, data, persistent_load, fmt):
    try:
        return SafeUnpickler(io.BytesIO(data), path, persistent_load).load()
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path}: truncated or corrupt {fmt} checkpoint "
                              f"({type(e).__name__}: {e})") from e


def _materialize(obj, path, memo):
    """Replace storage/tensor placeholders by numpy arrays, keeping container types."""
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, TensorRef):
        out = _build_tensor(obj, path)
    elif isinstance(obj, StorageRef):
        out = _to_native(np.array(obj.array()), obj.stype.bf16)
    elif isinstance(obj, OrderedDict):
        out = OrderedDict((k, _materialize(v, path, memo)) for k, v in obj.items())
    elif isinstance(obj, dict):
        out = {k: _materialize(v, path, memo) for k, v in obj.items()}
    elif isinstance(obj, list):
        out = [_materialize(v, path, memo) for v in obj]
    elif isinstance(obj, tuple):
        out = tuple(_materialize(v, path, memo) for v in obj)
    else:
        return obj
    memo[id(obj)] = out
    return out


def _build_tensor(ref, path):
    base = ref.storage.array()
    bf16 = ref.storage.stype.bf16
    if ref.dtype is not None:  # _rebuild_tensor_v3: an untyped (byte) storage plus a dtype
        base = base.view(ref.dtype.dtype.newbyteorder(base.dtype.byteorder)
                         if ref.dtype.dtype.itemsize > 1 else ref.dtype.dtype)
        bf16 = ref.dtype.bf16
    if len(ref.size) != len(ref.stride):
        raise CheckpointError(f"{path}: tensor with size {ref.size} but stride {ref.stride}")
    if any(n == 0 for n in ref.size):
        return _to_native(np.zeros(ref.size, dtype=base.dtype), bf16)
    if ref.offset < 0 or any(s < 0 for s in ref.stride) or any(n < 0 for n in ref.size):
        raise CheckpointError(f"{path}: tensor with negative offset/size/stride "
                              f"({ref.offset}, {ref.size}, {ref.stride})")
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if last >= base.size:
        # as_strided does not check bounds: without this a crafted file could read any memory
        raise CheckpointError(
            f"{path}: tensor of size {ref.size}, stride {ref.stride}, offset {ref.offset} needs "
            f"{last + 1} elements but storage '{ref.storage.key}' has {base.size}")
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
