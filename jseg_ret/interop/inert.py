"""Data-only objects that real checkpoints carry, rebuilt without running the file's choices.

Training scripts save more than weights: DeiT/RMT-style ``main.py`` stores ``args`` (an
``argparse.Namespace``), mmcv/timm leave numpy scalars and arrays in ``meta`` or in optimizer and
scheduler state. A plain unpickler rebuilds them by calling the callables the file names
(``numpy.core.multiarray._reconstruct``, ``ndarray.__setstate__``, ``Namespace.__new__`` and a
``__dict__`` update). Here those names resolve to the functions and placeholder classes below:
each call returns a fresh placeholder owned by this load, pickle's BUILD fills only such a
placeholder (after checking its state), and ``materialize`` turns placeholders into plain values
at the end. So nothing the file names is ever called, and no object outside the load is touched.
"""
import argparse
import pathlib
import re
from collections import OrderedDict

import numpy as np

from .errors import CheckpointError, shown

_PACKAGE = __name__.rsplit(".", 1)[0]  # jseg_ret.interop: where the stand-ins live
# numpy dtype specs a checkpoint may use: bool, ints, floats, complex, fixed-width bytes/str.
# Object ('O'), structured/void ('V') and datetime dtypes are refused.
_DTYPE_SPEC = re.compile(r"^[biufc]\d{1,2}$|^[SU]\d{0,9}$")


class Placeholder:
    """Base of the objects a load builds before it knows their final value."""

    built = False


class DTypeRef(Placeholder):
    """``numpy.dtype(spec, align, copy)`` and its BUILD state: the endianness."""

    def __init__(self, spec):
        self.dtype = np.dtype(spec)

    def build(self, state):
        if not (isinstance(state, tuple) and len(state) >= 8 and state[0] in (3, 4)
                and state[1] in ("<", ">", "|", "=") and state[2:5] == (None, None, None)):
            raise CheckpointError(f"numpy dtype state {shown(state)} is not a plain dtype's")
        if state[5] not in (-1, self.dtype.itemsize) and self.dtype.kind not in "SU":
            raise CheckpointError(f"numpy dtype {self.dtype} with item size {state[5]}")
        if state[5] > 0 and self.dtype.kind in "SU":
            self.dtype = np.dtype((self.dtype.type, state[5] // (4 if self.dtype.kind == "U"
                                                                 else 1)))
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])

    def value(self):
        return self.dtype


class ArrayRef(Placeholder):
    """``numpy.core.multiarray._reconstruct(ndarray, ...)`` then BUILD with the array's bytes."""

    array = None

    def build(self, state):
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise CheckpointError(f"numpy array state {shown(state)} is not "
                                  "(1, shape, dtype, is_fortran, data)")
        _version, shape, dtype, fortran, raw = state
        if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
            raise CheckpointError(f"numpy array with shape {shown(shape)}")
        dtype = _dtype_of(dtype, "numpy array")
        if not isinstance(raw, (bytes, bytearray)):
            raise CheckpointError(f"numpy array of dtype {dtype} whose data is a "
                                  f"{type(raw).__name__}, expected bytes (object arrays are "
                                  "refused)")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if len(raw) != nbytes:
            raise CheckpointError(f"numpy array of shape {shape} and dtype {dtype} needs "
                                  f"{nbytes} bytes, the file holds {len(raw)}")
        flat = np.frombuffer(raw, dtype=dtype)
        # a copy in native byte order, as numpy's own unpickling gives
        self.array = flat.reshape(shape, order="F" if fortran else "C").astype(
            dtype.newbyteorder("="), order="K")

    def value(self):
        return self.array


class NamespaceRef(Placeholder):
    """``argparse.Namespace`` made by NEWOBJ, its attributes given by BUILD."""

    def __init__(self):
        self.attrs = {}

    def build(self, state):
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]
        if not isinstance(state, dict):
            raise CheckpointError(f"argparse.Namespace state is a {type(state).__name__}, "
                                  "expected a dict")
        for key in state:
            if not isinstance(key, str) or key.startswith("__"):
                raise CheckpointError(f"argparse.Namespace attribute {shown(key)} refused")
        self.attrs = dict(state)

    def value(self, convert):
        ns = argparse.Namespace()  # a fresh instance; its keys were checked by build()
        for key, item in self.attrs.items():
            setattr(ns, key, convert(item, key))
        return ns


def _dtype_of(obj, what):
    if isinstance(obj, DTypeRef):
        return obj.dtype
    raise CheckpointError(f"{what} with dtype {shown(obj)}, expected a numpy dtype")


# ---- the functions a file's globals resolve to ---------------------------------------------------

def numpy_dtype(spec, align=False, copy=True):
    if not (isinstance(spec, str) and _DTYPE_SPEC.match(spec)):
        raise CheckpointError(f"numpy dtype {shown(spec)} refused (only bool, integer, float, "
                              "complex and fixed-width string dtypes)")
    return DTypeRef(spec)


def numpy_reconstruct(cls, shape, typecode):
    if cls is not NDARRAY:
        raise CheckpointError(f"numpy _reconstruct of {shown(cls)}, expected numpy.ndarray")
    if shape != (0,):  # numpy pickles an empty array here and fills it by BUILD
        raise CheckpointError(f"refused numpy _reconstruct with shape {shown(shape)} (numpy "
                              "pickles shape (0,) and gives the data by BUILD)")
    return ArrayRef()


def numpy_scalar(dtype, data=None):
    dtype = _dtype_of(dtype, "numpy scalar")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise CheckpointError(f"numpy scalar of dtype {dtype} needs {dtype.itemsize} bytes, "
                              f"got {type(data).__name__}")
    return np.frombuffer(data, dtype=dtype)[0]


def inert_bytearray(*args):
    # bytearray(int) zero-fills that many bytes (a memory bomb); pickles only pass data
    if not args:
        return bytearray()
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return bytearray(args[0])
    if (len(args) == 2 and isinstance(args[0], str)
            and args[1].lower().replace("_", "-") in ("latin1", "latin-1")):
        return bytearray(args[0], "latin-1")
    what = f"{args[0]}" if len(args) == 1 and isinstance(args[0], int) else \
        ", ".join(type(a).__name__ for a in args)
    raise CheckpointError(f"bytearray({what}) refused: a pickled bytearray holds its bytes")


def inert_bytes(*args):
    # protocol 2 pickles b'' as bytes(); bytes(int) would zero-fill that many bytes
    if not args or (len(args) == 1 and isinstance(args[0], (bytes, bytearray))):
        return bytes(*args)
    raise CheckpointError(f"bytes({args[0] if isinstance(args[0], int) else '...'}) refused: a "
                          "pickled bytes value holds its bytes")


def inert_defaultdict(factory=None, *_):
    # a defaultdict would call its factory later; its items come back in a plain dict
    if factory is not None and not isinstance(factory, TypeName) \
            and factory is not set and factory is not frozenset:
        raise CheckpointError(f"defaultdict with factory {shown(factory)} refused")
    return {}


def inert_path(*parts):
    if not all(isinstance(p, str) for p in parts):
        raise CheckpointError("pathlib path from non-string parts refused")
    return pathlib.PurePath(*parts).as_posix()


class TypeName:
    """A type the file names only as a value (``torch.Tensor`` as a type argument, ``list`` as
    a defaultdict factory); never called, never built."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


NDARRAY = TypeName("numpy.ndarray")


def inert_globals():
    """(module, name) -> stand-in, for the data-only objects of training checkpoints."""
    out = {("argparse", "Namespace"): NamespaceRef,
           ("collections", "defaultdict"): inert_defaultdict,
           ("builtins", "bytearray"): inert_bytearray,
           ("builtins", "bytes"): inert_bytes,
           ("numpy", "dtype"): numpy_dtype,
           ("numpy", "ndarray"): NDARRAY}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(module, "scalar")] = numpy_scalar
        out[(module, "_reconstruct")] = numpy_reconstruct
    for name in ("list", "dict", "int", "float", "tuple", "str"):  # set: the real class
        out[("builtins", name)] = TypeName(name)
    for name in ("PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath", "Path"):
        out[("pathlib", name)] = inert_path
    return out


# Classes pickle may instantiate with NEWOBJ (cls.__new__), and what BUILD may fill.
NEWOBJ_CLASSES = (NamespaceRef,)
BUILDABLE = (DTypeRef, ArrayRef, NamespaceRef)


def materialize(obj, leaf, where=""):
    """A copy of ``obj`` with every placeholder replaced by its value.

    ``leaf(obj, where)`` converts the format reader's own placeholders (tensors, storages) and
    returns ``NotImplemented`` for anything else. ``where`` is the key path, for messages.
    """
    memo = {}
    try:
        return _materialize(obj, leaf, where, memo)
    except RecursionError:
        raise CheckpointError("the checkpoint is nested too deeply or refers to itself") \
            from None


def _materialize(obj, leaf, where, memo):
    if id(obj) in memo:
        return memo[id(obj)]

    def convert(item, key):
        return _materialize(item, leaf, f"{where}/{key}" if where else str(key), memo)

    out = leaf(obj, where)
    if out is not NotImplemented:
        pass
    elif isinstance(obj, (ArrayRef, DTypeRef)):
        if not obj.built:
            raise CheckpointError(f"'{where}': a numpy value without its data")
        out = obj.value()
    elif isinstance(obj, NamespaceRef):
        out = obj.value(convert)
    elif isinstance(obj, TypeName):
        out = obj.name
    elif callable(obj) and getattr(obj, "__module__", "").startswith(_PACKAGE):
        out = f"{obj.__module__}.{obj.__qualname__}"  # a stand-in named as a value: never hand
        # out the reader's shared functions and classes
    elif type(obj) in (dict, OrderedDict, list, tuple, set, frozenset):
        try:
            if isinstance(obj, dict):
                out = type(obj)((convert(k, "<key>"), convert(v, k)) for k, v in obj.items())
            else:
                out = type(obj)(convert(v, i) for i, v in enumerate(obj))
        except TypeError as e:  # e.g. an array as a set item or dict key
            raise CheckpointError(f"'{where}': {e}") from None
    else:
        return obj
    memo[id(obj)] = out
    return out
