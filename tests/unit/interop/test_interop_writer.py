"""Writing zip .pth files without PyTorch: round trip, torch.load(weights_only), atomicity."""
import os
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from jseg_ret.interop import CheckpointError, load_pth, save_pth


def _state():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 6)).astype(np.float32)
    sd = OrderedDict()
    sd["f32"] = rng.standard_normal((2, 3, 4)).astype(np.float32)
    sd["f64"] = rng.standard_normal(5)
    sd["f16"] = rng.standard_normal((3, 3)).astype(np.float16)
    sd["i64"] = np.arange(-3, 3, dtype=np.int64)
    sd["i32"] = np.arange(6, dtype=np.int32).reshape(2, 3)
    sd["i16"] = np.arange(3, dtype=np.int16)
    sd["i8"] = np.arange(-2, 2, dtype=np.int8)
    sd["u8"] = np.arange(250, 256, dtype=np.uint8)
    sd["bool"] = np.array([True, False, True])
    sd["num_batches_tracked"] = np.zeros((), np.int64)
    sd["empty"] = np.zeros((0, 3), np.float32)
    sd["transposed"] = base.T                      # non-contiguous input
    sd["strided"] = base[:, ::2]
    sd["fortran"] = np.asfortranarray(base)
    sd["big_endian"] = np.arange(4, dtype=">f4")
    meta = {"epoch": 3, "lr": np.float32(0.5), "CLASSES": ["a", "b"], "shape": (1, 2),
            "none": None, "raw": b"\x00\x01"}
    return {"meta": meta, "state_dict": sd}


def test_round_trip_through_reader(tmp_path):
    state = _state()
    path = save_pth(state, tmp_path / "w.pth")
    back = load_pth(path)
    assert isinstance(back["state_dict"], OrderedDict)
    assert list(back["state_dict"]) == list(state["state_dict"])
    for key, arr in state["state_dict"].items():
        got = back["state_dict"][key]
        assert got.shape == arr.shape and got.dtype == arr.dtype.newbyteorder("="), key
        assert np.array_equal(got, arr), key
    assert back["meta"] == {**state["meta"], "lr": 0.5}


def test_zip_layout_is_torch_like(tmp_path):
    path = save_pth({"w": np.ones(3, np.float32)}, tmp_path / "w.pth")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[0] == "archive/data.pkl"
        assert {"archive/byteorder", "archive/version", "archive/data/0"} <= set(names)
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            data_start = info.header_offset + 30 + len(info.filename) + len(info.extra)
            assert data_start % 64 == 0, info.filename  # aligned like torch.save


@pytest.mark.torch
def test_torch_load_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    state = _state()
    path = save_pth(state, tmp_path / "w.pth")
    for kwargs in ({}, {"weights_only": True}):  # default is weights_only=True in torch >= 2.6
        loaded = torch.load(str(path), **kwargs)
        assert isinstance(loaded["state_dict"], OrderedDict)
        for key, arr in state["state_dict"].items():
            t = loaded["state_dict"][key]
            assert tuple(t.shape) == arr.shape, key
            assert np.array_equal(t.numpy(), arr), key
        assert loaded["meta"]["CLASSES"] == ["a", "b"] and loaded["meta"]["raw"] == b"\x00\x01"
    assert loaded["state_dict"]["num_batches_tracked"].dtype == torch.int64
    assert loaded["state_dict"]["f16"].dtype == torch.float16


def test_unsupported_values_fail_and_leave_destination_untouched(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"old")
    with pytest.raises(CheckpointError, match=r"\['state_dict'\]\['u16'\] has dtype uint16"):
        save_pth({"state_dict": {"u16": np.zeros(2, np.uint16)}}, path)
    with pytest.raises(CheckpointError, match=r"\['meta'\]\['obj'\] is a .*object"):
        save_pth({"meta": {"obj": object()}}, path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["w.pth"]  # no temporary file left behind


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        save_pth({"w": np.zeros(1, np.float32)}, tmp_path / "no" / "w.pth")
