"""A pickle reader that only builds what a PyTorch checkpoint may contain.

``pickle.load`` calls any global a file names (``os.system`` included), so checkpoints from the
internet must never go through it. Here every global goes through ``find_class``, which answers
from an explicit whitelist: ``collections.OrderedDict``, a few harmless builtins, *stand-ins* for
the torch functions and classes that a state dict uses, and the inert rebuilders of ``inert.py``
(numpy values, ``argparse.Namespace``). The stand-ins build placeholder objects (``StorageRef``,
``TensorRef``, ...); the format readers turn them into numpy data afterwards. Nothing of torch is
imported.

The opcodes that change or allocate objects are checked too (``SafeUnpickler``): BUILD only fills
a placeholder this load created, REDUCE only calls whitelisted callables, containers are only
filled when they are plain lists/dicts/sets, and no length read from the file may exceed the
bytes the file holds. A file can therefore neither run code, nor change the shared stand-ins
(which would corrupt later loads), nor make the reader allocate more than it holds.
"""
import codecs
import collections
import io
import os
import pickle
import struct
import sys

import numpy as np

from . import inert
from .errors import CheckpointError, shown

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
        ("builtins", "complex"): complex,
        ("builtins", "slice"): slice,
        ("_codecs", "encode"): _codecs_encode,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): inert.TypeName("torch.Tensor"),
        ("torch.nn.parameter", "Parameter"): inert.TypeName("torch.nn.Parameter"),
        ("torch", "Size"): _torch_size,
        ("torch", "device"): _torch_device,
    }
    for name, (dtype, bf16) in STORAGE_TYPES.items():
        stype = StorageType(name, dtype, bf16)
        for module in ("torch", "torch.cuda", "torch.storage"):
            allowed[(module, name)] = stype
    for name, (dtype, bf16) in TORCH_DTYPES.items():
        allowed[("torch", name)] = TorchDType(name, dtype, bf16)
    allowed.update(inert.inert_globals())
    # protocol-2 pickles written by python 3 name builtins as python 2's __builtin__
    allowed.update({("__builtin__", name): obj for (module, name), obj in list(allowed.items())
                    if module == "builtins"})
    return allowed


WHITELIST = _build_whitelist()
# What REDUCE may call: functions and classes of the whitelist, never a stand-in object.
_CALLABLE = (type(_codecs_encode), type(len), type)


def standin_leaf(item, where=""):
    """For ``inert.materialize``: a torch dtype or storage type left in metadata becomes its
    name, so a loaded checkpoint never hands out the shared stand-in objects."""
    return repr(item) if isinstance(item, (StorageType, TorchDType)) else NotImplemented


def _refuse_opcode(name):
    def refuse(self):
        raise CheckpointError(f"{self._path}: refused pickle opcode {name} (not used by "
                              "checkpoints; it could run or import code)")
    return refuse


class SafeUnpickler(pickle._Unpickler):
    """Unpickler whose globals come only from ``WHITELIST``; refusals raise ``CheckpointError``.

    Built on the pure-python unpickler so that every opcode that calls, fills or allocates goes
    through a check here. ``persistent_load`` is the format reader's callback for storage
    references; ``extra`` adds (module, name) -> callable entries (e.g. for Jittor .pkl).
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, path, persistent_load=None, extra=None):
        super().__init__(file)
        self._path = path
        self._persistent_load = persistent_load
        self._extra = extra or {}
        self._size = _stream_size(file)
        self._callables = {id(obj) for obj in (*WHITELIST.values(), *self._extra.values())
                           if isinstance(obj, _CALLABLE)}
        self._made = set()  # ids of objects this load created: the only ones BUILD may fill

    def find_class(self, module, name):
        obj = self._extra.get((module, name)) or WHITELIST.get((module, name))
        if obj is None:
            raise CheckpointError(
                f"{self._path}: refused to load global '{module}.{name}'. A checkpoint may only "
                "hold tensors, storages, OrderedDict, numpy values, argparse.Namespace and plain "
                "python values; this file names other code to run (it may be malicious, or it "
                "pickles whole python objects; save model.state_dict() instead)")
        return obj

    def persistent_load(self, pid):
        if self._persistent_load is None:
            raise pickle.UnpicklingError(f"unexpected persistent id {shown(pid)}")
        return self._persistent_load(pid)

    # ---- opcodes that call ------------------------------------------------------------------

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if id(func) not in self._callables or not isinstance(args, tuple):
            raise CheckpointError(f"{self._path}: refused to call {shown(func)} (only whitelisted "
                                  "functions may be called)")
        try:
            out = func(*args)
        except CheckpointError as e:  # a stand-in refused its arguments: name the file
            raise CheckpointError(f"{self._path}: {e}") from None
        self.stack[-1] = self._made_by(out)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    def _new(self, cls, args, kwargs):
        if not any(cls is allowed for allowed in inert.NEWOBJ_CLASSES) or args or kwargs:
            raise CheckpointError(f"{self._path}: refused to create an instance of {shown(cls)}")
        return self._made_by(cls())

    def _made_by(self, obj):
        if isinstance(obj, inert.BUILDABLE) or type(obj) is collections.OrderedDict:
            self._made.add(id(obj))
        return obj

    # ---- opcodes that fill objects ----------------------------------------------------------

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if id(inst) not in self._made:
            raise CheckpointError(f"{self._path}: refused to set the state of {shown(inst)} "
                                  "(pickle BUILD on an object this file did not create)")
        if isinstance(inst, inert.BUILDABLE) and not inst.built:
            try:
                inst.build(state)
            except CheckpointError as e:
                raise CheckpointError(f"{self._path}: {e}") from None
            inst.built = True
        elif type(inst) is collections.OrderedDict and isinstance(state, dict) \
                and all(isinstance(k, str) and not k.startswith("__") for k in state):
            pass  # torch's state_dict() pickles its _metadata attribute; it is not needed here
        else:
            raise CheckpointError(f"{self._path}: refused to set the state of a "
                                  f"{type(inst).__name__} (pickle BUILD)")

    def load_appends(self):
        items = self.pop_mark()
        self._target(list, "APPENDS").extend(items)

    def load_append(self):
        value = self.stack.pop()
        self._target(list, "APPEND").append(value)

    def load_setitems(self):
        items = self.pop_mark()
        target = self._target(dict, "SETITEMS")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self._target(dict, "SETITEM")[key] = value

    def load_additems(self):
        items = self.pop_mark()
        self._target(set, "ADDITEMS").update(items)

    def _target(self, kind, opcode):
        obj = self.stack[-1]
        if type(obj) not in ((dict, collections.OrderedDict) if kind is dict else (kind,)):
            raise CheckpointError(f"{self._path}: refused pickle {opcode} on a "
                                  f"{type(obj).__name__}, expected a {kind.__name__}")
        return obj

    # ---- opcodes that read a length from the file -------------------------------------------

    def _read_exact(self, n, what):
        if n > self._size:
            raise CheckpointError(f"{self._path}: the pickle declares {what} of {n} bytes but "
                                  f"the file holds only {self._size} bytes (corrupt or crafted)")
        data = self.read(n)
        if len(data) != n:
            raise CheckpointError(f"{self._path}: truncated pickle ({what} of {n} bytes, "
                                  f"{len(data)} present)")
        return data

    def _length(self, fmt):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def load_binbytes(self):
        self.append(self._read_exact(self._length("<I"), "a bytes value"))

    def load_binbytes8(self):
        self.append(self._read_exact(self._length("<Q"), "a bytes value"))

    def load_bytearray8(self):
        self.append(bytearray(self._read_exact(self._length("<Q"), "a bytearray")))

    def load_binunicode(self):
        self.append(str(self._read_exact(self._length("<I"), "a string"), "utf-8",
                        "surrogatepass"))

    def load_binunicode8(self):
        self.append(str(self._read_exact(self._length("<Q"), "a string"), "utf-8",
                        "surrogatepass"))

    def load_binstring(self):
        n = self._length("<i")
        if n < 0:
            raise pickle.UnpicklingError("BINSTRING pickle has negative byte count")
        self.append(self._decode_string(self._read_exact(n, "a string")))

    def load_long4(self):
        n = self._length("<i")
        if n < 0:
            raise pickle.UnpicklingError("LONG pickle has negative byte count")
        self.append(pickle.decode_long(self._read_exact(n, "an integer")))

    def load_frame(self):
        n = self._length("<Q")
        if n > self._size:
            raise CheckpointError(f"{self._path}: the pickle declares a frame of {n} bytes but "
                                  f"the file holds only {self._size} bytes (corrupt or crafted)")
        self._unframer.load_frame(n)



# The checked opcodes replace the pure-python unpickler's; the refused ones raise.
for _code, _method in ((pickle.REDUCE, "load_reduce"), (pickle.NEWOBJ, "load_newobj"),
                       (pickle.NEWOBJ_EX, "load_newobj_ex"), (pickle.BUILD, "load_build"),
                       (pickle.APPEND, "load_append"), (pickle.APPENDS, "load_appends"),
                       (pickle.SETITEM, "load_setitem"), (pickle.SETITEMS, "load_setitems"),
                       (pickle.ADDITEMS, "load_additems"), (pickle.BINBYTES, "load_binbytes"),
                       (pickle.BINBYTES8, "load_binbytes8"), (pickle.BYTEARRAY8, "load_bytearray8"),
                       (pickle.BINUNICODE, "load_binunicode"),
                       (pickle.BINUNICODE8, "load_binunicode8"),
                       (pickle.BINSTRING, "load_binstring"), (pickle.LONG4, "load_long4"),
                       (pickle.FRAME, "load_frame")):
    SafeUnpickler.dispatch[_code[0]] = getattr(SafeUnpickler, _method)
for _code, _method in ((pickle.INST, "INST"), (pickle.OBJ, "OBJ"), (pickle.EXT1, "EXT1"),
                       (pickle.EXT2, "EXT2"), (pickle.EXT4, "EXT4"),
                       (pickle.NEXT_BUFFER, "NEXT_BUFFER"),
                       (pickle.READONLY_BUFFER, "READONLY_BUFFER")):
    SafeUnpickler.dispatch[_code[0]] = _refuse_opcode(_method)
del _code, _method


def _stream_size(file):
    """Bytes from the current position to the end of ``file`` (a seekable binary stream)."""
    if isinstance(file, io.BytesIO):
        return file.getbuffer().nbytes - file.tell()
    try:
        return os.fstat(file.fileno()).st_size - file.tell()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return sys.maxsize
