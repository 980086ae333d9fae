"""A pickle reader that only builds what a PyTorch checkpoint may contain.

``pickle.load`` calls any global a file names (``os.system`` included), so checkpoints from the
internet must never go through it. Here every global goes through ``find_class``, which answers
from an explicit whitelist: ``collections.OrderedDict``, a few harmless builtins, numpy scalar and
array reconstruction, and *stand-ins* for the torch functions and classes that a state dict uses.
The stand-ins build placeholder objects (``StorageRef``, ``TensorRef``); the format readers fill
them with numpy data afterwards. Nothing of torch is imported.
"""
import codecs
import collections
import pickle

import numpy as np

from .errors import CheckpointError

# torch storage class name -> (numpy dtype, is_bfloat16). bfloat16 has no numpy dtype: its raw
# 16-bit patterns are kept as uint16 and widened to float32 when a tensor is built.
STORAGE_TYPES = {
    "DoubleStorage": (np.float64, False),
    "FloatStorage": (np.float32, False),
    "HalfStorage": (np.float16, False),
    "BFloat16Storage": (np.uint16, True),
    "LongStorage": (np.int64, False),
    "IntStorage": (np.int32, False),
    "ShortStorage": (np.int16, False),
    "CharStorage": (np.int8, False),
    "ByteStorage": (np.uint8, False),
    "BoolStorage": (np.bool_, False),
    "ComplexFloatStorage": (np.complex64, False),
    "ComplexDoubleStorage": (np.complex128, False),
    "UntypedStorage": (np.uint8, False),
}

# torch dtype objects (used by _rebuild_tensor_v3 and in some metadata) -> (numpy dtype, is_bf16)
TORCH_DTYPES = {
    "float64": (np.float64, False), "float32": (np.float32, False),
    "float16": (np.float16, False), "bfloat16": (np.uint16, True),
    "int64": (np.int64, False), "int32": (np.int32, False), "int16": (np.int16, False),
    "int8": (np.int8, False), "uint8": (np.uint8, False), "bool": (np.bool_, False),
    "uint16": (np.uint16, False), "uint32": (np.uint32, False), "uint64": (np.uint64, False),
    "complex64": (np.complex64, False), "complex128": (np.complex128, False),
}


class StorageType:
    """Stand-in for ``torch.FloatStorage`` and friends: knows the element dtype."""

    def __init__(self, name, dtype, bf16):
        self.name, self.dtype, self.bf16 = name, np.dtype(dtype), bf16

    def __repr__(self):
        return f"torch.{self.name}"


class TorchDType:
    """Stand-in for a ``torch.float32``-like dtype object."""

    def __init__(self, name, dtype, bf16):
        self.name, self.dtype, self.bf16 = name, np.dtype(dtype), bf16

    def __repr__(self):
        return f"torch.{self.name}"


class StorageRef:
    """A storage named in the pickle; ``data`` (1-D numpy) is filled in by the format reader."""

    def __init__(self, key, stype, numel):
        self.key, self.stype, self.numel = key, stype, int(numel)
        self.data = None
        self.base, self.base_offset = None, 0  # legacy format: a view into another storage

    def array(self):
        if self.base is not None:
            return self.base.array()[self.base_offset:self.base_offset + self.numel]
        return self.data


class TensorRef:
    """What ``_rebuild_tensor_v2`` returns here: a strided view description, built later."""

    def __init__(self, storage, offset, size, stride, dtype=None):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        self.dtype = dtype  # TorchDType for _rebuild_tensor_v3 (storage is untyped), else None
        self.built = None


class _TypeMarker:
    """Stand-in for ``torch.Tensor`` / ``torch.nn.Parameter`` used as a type argument."""

    def __init__(self, name):
        self.name = name


# ---- stand-ins for the torch rebuild functions -------------------------------------------------

def _rebuild_tensor(storage, storage_offset, size, stride):
    _check_storage(storage)
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    _check_storage(storage)
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    _check_storage(storage)
    if not isinstance(dtype, TorchDType):
        raise pickle.UnpicklingError(
            f"_rebuild_tensor_v3 got dtype {dtype!r}, expected a torch dtype")
    return TensorRef(storage, storage_offset, size, stride, dtype=dtype)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data  # a Parameter is just its tensor here


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    # Tensor subclasses pickle as (rebuild function, type, args); the type does not matter here.
    if func not in (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter,
                    _rebuild_parameter_with_state):
        raise pickle.UnpicklingError(f"_rebuild_from_type_v2 with unexpected function {func!r}")
    return func(*args)


def _check_storage(storage):
    if not isinstance(storage, StorageRef):
        raise pickle.UnpicklingError(
            f"a tensor was rebuilt from {type(storage).__name__}, expected a storage reference")


def _codecs_encode(text, encoding="utf-8", errors="strict"):
    # Protocol-2 pickles store python bytes as _codecs.encode(str, 'latin1'); allow only that.
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(text, encoding, errors)


def _torch_size(*args):
    return tuple(*args)


def _torch_device(*args):
    return str(args[0]) if args else "cpu"


def _build_whitelist():
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "complex"): complex,
        ("builtins", "slice"): slice,
        ("__builtin__", "set"): set,
        ("__builtin__", "frozenset"): frozenset,
        ("_codecs", "encode"): _codecs_encode,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): _TypeMarker("Tensor"),
        ("torch.nn.parameter", "Parameter"): _TypeMarker("Parameter"),
        ("torch", "Size"): _torch_size,
        ("torch", "device"): _torch_device,
    }
    for name, (dtype, bf16) in STORAGE_TYPES.items():
        stype = StorageType(name, dtype, bf16)
        for module in ("torch", "torch.cuda", "torch.storage"):
            allowed[(module, name)] = stype
    for name, (dtype, bf16) in TORCH_DTYPES.items():
        allowed[("torch", name)] = TorchDType(name, dtype, bf16)
    # numpy values that mmcv may leave in 'meta' (e.g. a best score); array reconstruction only
    # creates arrays, and an object array's items pass through this same whitelist.
    try:  # numpy >= 2 renamed numpy.core to numpy._core; pickles may name either
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "scalar")] = multiarray.scalar
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
    allowed[("numpy", "dtype")] = np.dtype
    allowed[("numpy", "ndarray")] = np.ndarray
    return allowed


WHITELIST = _build_whitelist()


class SafeUnpickler(pickle.Unpickler):
    """Unpickler whose globals come only from ``WHITELIST``; refusals raise ``CheckpointError``.

    ``persistent_load`` is the format reader's callback for storage references.
    """

    def __init__(self, file, path, persistent_load=None, extra=None):
        super().__init__(file)
        self._path = path
        self._persistent_load = persistent_load
        self._extra = extra or {}  # more (module, name) -> object entries, e.g. for Jittor .pkl

    def find_class(self, module, name):
        obj = self._extra.get((module, name)) or WHITELIST.get((module, name))
        if obj is None:
            raise CheckpointError(
                f"{self._path}: refused to load global '{module}.{name}'. A checkpoint may only "
                "hold tensors, storages, OrderedDict and plain python values; this file names "
                "other code to run (it may be malicious, or it pickles whole python objects; "
                "save model.state_dict() instead)")
        return obj

    def persistent_load(self, pid):
        if self._persistent_load is None:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return self._persistent_load(pid)
