"""Files from strangers (issue 17, items 2 and 3): crafted pickles may not mutate the reader's
shared state, and may not make the reader allocate more than the file holds.

Every crafted file is written here by hand, opcode by opcode, so the test shows exactly what the
attack is. Memory is measured in a subprocess (peak RSS, /proc VmHWM or ru_maxrss) with an
address-space limit, so a regression fails the test instead of exhausting the machine.
"""
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from bench.common import reset_peak_rss  # tools/bench: the benchmarks' RSS helper
from jseg_ret.interop import CheckpointError, load_pkl, load_pth, safe_pickle
from jseg_ret.interop.pth_reader import LEGACY_MAGIC, LEGACY_PROTOCOL
from tests.helpers.paths import subprocess_env

FIXTURES = ("segret_t_ade20k", "segnext_t_ade20k")
MB = 2 ** 20


# ---- a tiny pickle assembler ---------------------------------------------------------------------

def op_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_str(text):
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def op_int(n):
    raw = pickle.encode_long(n)
    return b"\x8a" + bytes([len(raw)]) + raw


def op_tuple(*items):
    return b"(" + b"".join(items) + b"t"


def op_call(func, *args):
    return func + op_tuple(*args) + b"R"


def tensor_pickle(numel, size, stride, offset=0, storage="FloatStorage", legacy=False):
    """``{'w': _rebuild_tensor_v2(<storage '0' of numel>, offset, size, stride, ...)}``."""
    pid = op_tuple(op_str("storage"), op_global("torch", storage), op_str("0"), op_str("cpu"),
                   op_int(numel), *([b"N"] if legacy else [])) + b"Q"
    tensor = op_call(op_global("torch._utils", "_rebuild_tensor_v2"), pid, op_int(offset),
                     op_tuple(*map(op_int, size)), op_tuple(*map(op_int, stride)), b"\x89",
                     op_call(op_global("collections", "OrderedDict")))
    return b"\x80\x02}" + op_str("w") + tensor + b"s."


def write_zip(path, pkl, records=(), compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression, allowZip64=True) as zf:
        zf.writestr("archive/data.pkl", pkl)
        for name, data in records:
            zf.writestr(f"archive/data/{name}", data)
    return path


def write_legacy(path, pkl, storages):
    """Legacy format: magic, protocol, sys_info, main pickle, key list, then each storage as an
    element count and its bytes. ``storages``: (key, declared count, raw bytes)."""
    with open(path, "wb") as f:
        for obj in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"little_endian": True}):
            pickle.dump(obj, f, protocol=2)
        f.write(pkl)
        pickle.dump([key for key, _, _ in storages], f, protocol=2)
        for _key, count, raw in storages:
            f.write(struct.pack("<q", count) + raw)
    return path


def fixture_ckpt(shared_dir, name):
    return os.path.join(shared_dir, "fixtures", "official", name, "checkpoint.pth")


def assert_same_checkpoint(a, b):
    assert a["meta"] == b["meta"]
    assert list(a["state_dict"]) == list(b["state_dict"])
    for key, arr in b["state_dict"].items():
        got = a["state_dict"][key]
        assert got.dtype == arr.dtype and got.shape == arr.shape, key
        assert np.array_equal(got, arr), key


def standin_state():
    """What a file could try to change: the attributes of every shared stand-in object."""
    out = {}
    for key, obj in safe_pickle.WHITELIST.items():
        try:
            out[key] = dict(vars(obj))
        except TypeError:  # no __dict__ (builtin types, C functions): nothing to set
            out[key] = None
    return out


# ---- item 2: BUILD / SETATTR / __setstate__ on shared objects ------------------------------------

def poison_pickle(target, state_form):
    """BUILD on a whitelisted global: sets ``dtype`` (an int16 numpy dtype) and ``bf16`` on it."""
    dtype = op_call(op_global("numpy", "dtype"), op_str("i2"), b"\x89", b"\x88")
    attrs = b"}" + op_str("dtype") + dtype + b"s" + op_str("bf16") + b"\x88s"
    state = attrs if state_form == "dict" else b"N" + attrs + b"\x86"  # (None, slotstate)
    return b"\x80\x02" + op_global(*target) + state + b"b."


POISON_TARGETS = [("torch", "HalfStorage"), ("torch", "FloatStorage"), ("torch", "float16"),
                  ("torch", "Tensor"), ("torch._utils", "_rebuild_tensor_v2"),
                  ("collections", "OrderedDict"), ("numpy", "dtype"),
                  ("numpy.core.multiarray", "_reconstruct"), ("argparse", "Namespace")]


@pytest.mark.parametrize("state_form", ["dict", "slots"])
@pytest.mark.parametrize("target", POISON_TARGETS, ids=lambda t: ".".join(t))
def test_build_on_shared_globals_is_refused_and_changes_nothing(tmp_path, target, state_form):
    before = standin_state()
    path = write_zip(tmp_path / "poison.pth", poison_pickle(target, state_form))
    with pytest.raises(CheckpointError) as err:
        load_pth(path)
    assert str(path) in str(err.value) and "refused" in str(err.value)
    assert standin_state() == before


def test_refused_poison_leaves_genuine_checkpoints_exact(shared_dir, tmp_path):
    # the reported attack: the fixture SegRet checkpoint is float16 (zip), SegNeXt float32
    # (legacy); afterwards both must still load exactly as before, and as torch.load reads them
    reference = {name: load_pth(fixture_ckpt(shared_dir, name)) for name in FIXTURES}
    for target in (("torch", "HalfStorage"), ("torch", "FloatStorage")):
        for form in ("dict", "slots"):
            path = write_zip(tmp_path / "poison.pth", poison_pickle(target, form))
            with pytest.raises(CheckpointError):
                load_pth(path)
            path = write_legacy(tmp_path / "poison_legacy.pth", poison_pickle(target, form), [])
            with pytest.raises(CheckpointError):
                load_pth(path)
    for name in FIXTURES:
        assert_same_checkpoint(load_pth(fixture_ckpt(shared_dir, name)), reference[name])
    torch = pytest.importorskip("torch")
    for name in FIXTURES:
        theirs = torch.load(fixture_ckpt(shared_dir, name))
        theirs["state_dict"] = {k: v.numpy() for k, v in theirs["state_dict"].items()}
        assert_same_checkpoint(load_pth(fixture_ckpt(shared_dir, name)), theirs)


def test_jittor_pkl_reader_refuses_build_on_shared_globals(tmp_path):
    before = standin_state()
    path = tmp_path / "poison.pkl"
    path.write_bytes(poison_pickle(("torch", "FloatStorage"), "dict"))
    with pytest.raises(CheckpointError, match="refused"):
        load_pkl(path)
    assert standin_state() == before


def test_setitems_and_appends_on_shared_globals_refused(tmp_path):
    before = standin_state()
    for body in (op_global("torch", "FloatStorage") + b"(" + op_str("k") + op_int(1) + b"u",
                 op_global("torch", "Tensor") + b"(" + op_int(1) + b"e",
                 op_global("builtins", "set") + b"(" + op_int(1) + b"\x90"):
        path = write_zip(tmp_path / "mutate.pth", b"\x80\x04" + body + b".")
        with pytest.raises(CheckpointError):
            load_pth(path)
    assert standin_state() == before


# ---- item 3: memory bombs ------------------------------------------------------------------------

def bomb_stride0(d):
    # 515 bytes in the report: one float, viewed as 25000 x 25000 with stride 0
    return write_zip(d / "stride0.pth", tensor_pickle(1, (25000, 25000), (0, 0)),
                     [("0", b"\0" * 4)])


def bomb_overlap(d):
    # strides (1, 1): every row re-reads the same 25000 floats: 625M elements from 100 KB
    return write_zip(d / "overlap.pth", tensor_pickle(25000, (25000, 25000), (1, 1)),
                     [("0", b"\0" * 100000)])


def bomb_many_views(d):
    # 3000 tensors that each view all of one 256 KB storage: 750 MB of copies from a small file
    pid = op_tuple(op_str("storage"), op_global("torch", "FloatStorage"), op_str("0"),
                   op_str("cpu"), op_int(65536)) + b"Q"
    tensor = op_call(op_global("torch._utils", "_rebuild_tensor_v2"), pid, op_int(0),
                     op_tuple(op_int(65536)), op_tuple(op_int(1)), b"\x89", b"N")
    items = b"".join(op_str(f"w{i}") + tensor for i in range(3000))
    return write_zip(d / "views.pth", b"\x80\x02}(" + items + b"u.", [("0", b"\0" * 262144)])


def bomb_deflate(d):
    # a deflated storage record: ~0.5 MB in the file, 512 MiB once inflated
    numel = 2 ** 27
    path = d / "deflate.pth"
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        zf.writestr("archive/data.pkl", tensor_pickle(numel, (numel,), (1,)))
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:
            chunk = b"\0" * (16 * MB)
            for _ in range(numel * 4 // len(chunk)):
                f.write(chunk)
    return path


def bomb_deflate_pickle(d):
    # the pickle record itself deflated: a 512 MiB BINBYTES8 string of zeros
    n = 2 ** 29
    path = d / "deflate_pkl.pth"
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        info = zipfile.ZipInfo("archive/data.pkl")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:
            f.write(b"\x80\x04\x8e" + struct.pack("<Q", n))
            chunk = b"\0" * (16 * MB)
            for _ in range(n // len(chunk)):
                f.write(chunk)
            f.write(b".")
    return path


def bomb_bytearray_call(d):
    # ~100 bytes: bytearray(3_200_000_000) zero-fills 3.2 GB
    return write_zip(d / "bytearray.pth", b"\x80\x04" + op_call(op_global("builtins", "bytearray"),
                                                               op_int(3_200_000_000)) + b".")


def bomb_bytearray8(d):
    # protocol 5 BYTEARRAY8 declaring 3.2 GB: the pickle module allocates before reading
    return write_zip(d / "bytearray8.pth", b"\x80\x05\x96" + struct.pack("<Q", 3_200_000_000)
                     + b"xyz.")


def bomb_binbytes8_legacy(d):
    # a legacy file read from disk: BINBYTES8 declaring 3.2 GB (file.read(n) allocates n)
    return write_legacy(d / "binbytes8.pth", b"\x80\x04\x8e" + struct.pack("<Q", 3_200_000_000)
                        + b"xyz.", [])


def bomb_frame(d):
    # protocol 4 FRAME declaring 3.2 GB
    return write_legacy(d / "frame.pth", b"\x80\x04\x95" + struct.pack("<Q", 3_200_000_000)
                        + b"N.", [])


def bomb_ndarray(d):
    # numpy's array constructor called with a huge shape
    shape = op_tuple(op_int(400_000_000))
    body = op_call(op_global("numpy.core.multiarray", "_reconstruct"),
                   op_global("numpy", "ndarray"), shape, b"C\x01b")
    return write_zip(d / "ndarray.pth", b"\x80\x02" + body + b".")


def bomb_huge_zip(d):
    # a declared 364 TiB tensor over a 4-byte record
    numel = 364 * 2 ** 40 // 4
    return write_zip(d / "huge.pth", tensor_pickle(numel, (numel // 2 ** 20, 2 ** 20),
                                                   (2 ** 20, 1)), [("0", b"\0" * 4)])


def bomb_huge_legacy(d):
    numel = 364 * 2 ** 40 // 4
    return write_legacy(d / "huge_legacy.pth", tensor_pickle(numel, (numel,), (1,), legacy=True),
                        [("0", numel, b"\0" * 4)])


BOMBS = {f.__name__[len("bomb_"):]: f for f in (
    bomb_stride0, bomb_overlap, bomb_many_views, bomb_deflate, bomb_deflate_pickle,
    bomb_bytearray_call, bomb_bytearray8, bomb_binbytes8_legacy, bomb_frame, bomb_ndarray,
    bomb_huge_zip, bomb_huge_legacy)}

# What each refusal must say (besides the file name).
EXPECTED = {
    "stride0": r"tensor 'w' .*625000000 elements.*storage '0' holds 1",
    "overlap": r"tensor 'w' .*625000000 elements.*storage '0' holds 25000",
    "many_views": r"tensor 'w\d+'.*over the limit",
    "deflate": r"storage '0'.*tensor 'w'.*536870912 bytes.*over the limit",
    "deflate_pickle": r"data.pkl.*over the limit",
    "bytearray_call": r"bytearray\(3200000000\) refused",
    "bytearray8": r"3200000000 bytes.*holds only",
    "binbytes8_legacy": r"3200000000 bytes.*holds only",
    "frame": r"3200000000 bytes.*holds only",
    "ndarray": r"refused",
    "huge_zip": r"storage '0'.*tensor 'w'.*400222232510464 bytes.*record holds 4",
    "huge_legacy": r"storage '0'.*400222232510464 bytes.*holds only",
}

_PROBE = r"""
import json, os, re, resource, sys
from jseg_ret.interop import CheckpointError, load_pth

def rss_kb(field):
    return int(re.search(field + r':\s+(\d+)', open('/proc/self/status').read()).group(1))

size = rss_kb('VmSize') * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + 2 * 2 ** 30, resource.RLIM_INFINITY))
out = {}
for path in sys.argv[1:]:
    open('/proc/self/clear_refs', 'w').write('5')  # VmHWM := current RSS
    base = rss_kb('VmRSS')
    try:
        load_pth(path)
        msg, kind = 'loaded', None
    except CheckpointError as e:
        msg, kind = str(e), 'CheckpointError'
    except BaseException as e:
        msg, kind = repr(e)[:300], type(e).__name__
    out[path] = {'kind': kind, 'msg': msg, 'peak_mb': (rss_kb('VmHWM') - base) / 1024}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def bomb_results(tmp_path_factory):
    if not reset_peak_rss():
        pytest.skip("needs /proc/self/clear_refs to measure each case's peak memory")
    d = tmp_path_factory.mktemp("bombs")
    paths = {name: str(make(d)) for name, make in BOMBS.items()}
    proc = subprocess.run([sys.executable, "-c", _PROBE, *paths.values()],
                          capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    return {name: (path, results[path]) for name, path in paths.items()}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_memory_bomb_refused_within_200mb(bomb_results, name):
    path, res = bomb_results[name]
    assert os.path.getsize(path) < 4 * MB  # the attack is a small file
    assert res["kind"] == "CheckpointError", res
    assert path in res["msg"]
    assert re.search(EXPECTED[name], res["msg"]), res["msg"]
    assert res["peak_mb"] < 200, res


def test_deflated_checkpoint_within_bounds_still_loads(shared_dir, tmp_path):
    # torch.load reads compressed records too: a re-zipped checkpoint is not refused, only one
    # that inflates beyond the bound
    src = fixture_ckpt(shared_dir, "segret_t_ade20k")
    path = tmp_path / "deflated.pth"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            zout.writestr(name, zin.read(name))
    assert_same_checkpoint(load_pth(path), load_pth(src))


# ---- code execution through any pickle route stays refused ---------------------------------------

def _exec_payloads(marker):
    cmd = op_str(f"touch {marker}")
    return {
        "global_reduce": b"\x80\x02" + op_call(op_global("os", "system"), cmd) + b".",
        "stack_global": b"\x80\x04\x8c\x02os\x8c\x06system\x93(" + cmd + b"tR.",
        "inst": b"(" + cmd + b"ios\nsystem\n.",
        "obj": b"(" + op_global("os", "system") + cmd + b"o.",
        "eval": b"\x80\x02" + op_call(op_global("builtins", "eval"),
                                      op_str(f"__import__('os').system('touch {marker}')")) + b".",
        "getattr": b"\x80\x02" + op_call(op_global("builtins", "getattr"),
                                         op_global("os", "path"), op_str("exists")) + b".",
        "dotted_name": b"\x80\x04\x8c\x08builtins\x8c\x0eset.__reduce__\x93.",
        "ext_registry": b"\x80\x02\x82\x01(" + cmd + b"tR.",
        "newobj_with_args": b"\x80\x02" + op_global("argparse", "Namespace") + op_tuple(cmd)
                            + b"\x81.",
        "call_a_standin_object": b"\x80\x02" + op_call(op_global("torch", "FloatStorage"), cmd)
                                 + b".",
    }


@pytest.mark.parametrize("fmt", ["zip", "legacy", "pkl"])
def test_code_execution_routes_refused(tmp_path, fmt):
    marker = tmp_path / "pwned"
    for name, payload in _exec_payloads(marker).items():
        if fmt == "zip":
            path, load = write_zip(tmp_path / f"{name}.pth", payload), load_pth
        elif fmt == "legacy":
            path, load = write_legacy(tmp_path / f"{name}.pth", payload, []), load_pth
        else:
            path, load = tmp_path / f"{name}.pkl", load_pkl
            path.write_bytes(payload)
        with pytest.raises(CheckpointError) as err:
            load(path)
        assert str(path) in str(err.value) and "refused" in str(err.value), (name, err.value)
        assert not marker.exists(), name
