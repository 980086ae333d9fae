"""Reading .pth files without PyTorch: fixtures, formats, dtypes, views, safety, bad files."""
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from jseg_ret.interop import CheckpointError, load_pth, unwrap_state_dict
from jseg_ret.interop.pth_reader import LEGACY_MAGIC, LEGACY_PROTOCOL
from jseg_ret.interop.pth_writer import _REBUILD_TENSOR, _Pickler, _Storage
from jseg_ret.interop.reference import read_reference_table as read_tsv

FIXTURES = ("segret_t_ade20k", "segnext_t_ade20k")


def fixture_ckpt(shared_dir, name):
    return os.path.join(shared_dir, "fixtures", "official", name, "checkpoint.pth")


@pytest.mark.parametrize("name,dtype", [("segret_t_ade20k", np.float16),
                                        ("segnext_t_ade20k", np.float32)])
def test_fixture_keys_and_shapes_match_reference(shared_dir, name, dtype):
    ckpt = load_pth(fixture_ckpt(shared_dir, name))
    assert set(ckpt) == {"meta", "state_dict"}
    assert ckpt["meta"]["mmseg_version"]
    sd = ckpt["state_dict"]
    ref = read_tsv(os.path.join(shared_dir, "reference", f"{name}_state_dict.tsv"))
    assert list(sd) == list(ref)
    for key, shape in ref.items():
        assert sd[key].shape == shape, key
        expected = np.int64 if key.endswith("num_batches_tracked") else dtype
        assert sd[key].dtype == expected, key


@pytest.mark.torch
@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_values_equal_torch_load(shared_dir, name):
    torch = pytest.importorskip("torch")
    path = fixture_ckpt(shared_dir, name)
    ours, theirs = load_pth(path), torch.load(path)
    assert ours["meta"] == theirs["meta"]
    for key, t in theirs["state_dict"].items():
        a = ours["state_dict"][key]
        assert a.dtype == t.numpy().dtype and np.array_equal(a, t.numpy()), key


# ---- files built with torch: both formats, dtypes, views, shared storages ------------------------

def _torch_objects(torch):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g)
    shared = torch.arange(24, dtype=torch.float32)
    sd = OrderedDict()
    sd["f32"] = torch.randn(2, 3, 4, generator=g)
    sd["f64"] = torch.randn(5, generator=g, dtype=torch.float64)
    sd["f16"] = torch.randn(3, 3, generator=g).half()
    sd["bf16"] = torch.randn(7, 2, generator=g).bfloat16()
    sd["bf16_t"] = torch.randn(3, 5, generator=g).bfloat16().t()  # non-contiguous bfloat16
    sd["i64"] = torch.arange(-3, 3, dtype=torch.int64)
    sd["i32"] = torch.arange(6, dtype=torch.int32).reshape(2, 3)
    sd["u8"] = torch.arange(250, 256, dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(7, dtype=torch.int64)
    sd["empty"] = torch.zeros(0, 3)
    sd["transposed"] = base.t()                 # stride (1, 6)
    sd["sliced"] = base[1:3, 2:5]               # offset 8, stride (6, 1)
    sd["strided"] = base[:, ::2]                # stride (6, 2)
    sd["view_a"] = shared[:12].view(3, 4)       # three tensors on one storage
    sd["view_b"] = shared[12:].view(4, 3)
    sd["view_c"] = shared.view(2, 12)[:, 5]
    sd["param"] = torch.nn.Parameter(torch.ones(2, 2))
    return {"meta": {"epoch": 3, "name": "x", "tags": ("a", "b")}, "state_dict": sd}


def _check_against_torch(torch, ours, obj):
    assert ours["meta"] == obj["meta"]
    assert list(ours["state_dict"]) == list(obj["state_dict"])
    for key, t in obj["state_dict"].items():
        t = t.detach()
        expected = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
        a = ours["state_dict"][key]
        assert a.shape == tuple(t.shape), key
        assert a.dtype == expected.dtype, key
        assert np.array_equal(a, expected), key
        assert a.flags.c_contiguous, key


@pytest.mark.torch
@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_saved_formats_dtypes_views(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    obj = _torch_objects(torch)
    path = tmp_path / "t.pth"
    torch.save(obj, str(path), _use_new_zipfile_serialization=zip_format)
    assert zipfile.is_zipfile(path) == zip_format
    ours = load_pth(path)
    _check_against_torch(torch, ours, obj)
    # views of one storage come out as independent arrays
    ours["state_dict"]["view_a"][0, 0] = 100
    assert ours["state_dict"]["view_c"][0] == 5


@pytest.mark.torch
def test_bfloat16_widened_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.0, -2.5, 3.140625, 1e-3, float("inf")]).bfloat16()
    torch.save({"w": t}, str(tmp_path / "b.pth"))
    a = load_pth(tmp_path / "b.pth")["w"]
    assert a.dtype == np.float32
    assert np.array_equal(a, t.float().numpy())


@pytest.mark.torch
def test_plain_state_dict_and_module_prefix(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    torch.save({"model": {"module." + k: v for k, v in net.state_dict().items()}},
               str(tmp_path / "m.pth"))
    sd = unwrap_state_dict(load_pth(tmp_path / "m.pth"))
    assert list(sd) == list(net.state_dict())
    assert np.array_equal(sd["0.weight"], net.state_dict()["0.weight"].numpy())


def test_unwrap_state_dict():
    w = np.zeros(2, np.float32)
    assert list(unwrap_state_dict({"state_dict": {"a": w}, "meta": {}})) == ["a"]
    assert list(unwrap_state_dict({"model": {"module.a": w, "module.b": w}})) == ["a", "b"]
    assert list(unwrap_state_dict({"a": w})) == ["a"]
    with pytest.raises(CheckpointError, match="no state dict found"):
        unwrap_state_dict({"meta": {"x": 1}}, source="f.pth")


# ---- safety: globals outside the whitelist are refused and never run -----------------------------

class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _evil_zip(path, payload):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
        zf.writestr("archive/version", "3\n")


def _evil_legacy(path, payload):
    with open(path, "wb") as f:
        for obj in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"little_endian": True}):
            pickle.dump(obj, f, protocol=2)
        pickle.dump(payload, f, protocol=2)
        pickle.dump([], f, protocol=2)


@pytest.mark.parametrize("writer", [_evil_zip, _evil_legacy], ids=["zip", "legacy"])
def test_malicious_pickle_is_refused_and_not_executed(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    writer(path, {"state_dict": {"w": _RunsCommand(marker)}})
    with pytest.raises(CheckpointError) as err:
        load_pth(path)
    msg = str(err.value)
    assert str(path) in msg and "refused" in msg and "system" in msg
    assert not marker.exists()


def test_out_of_bounds_view_is_refused(tmp_path):
    # a crafted tensor that would read past its storage (as_strided does not check bounds)
    class Crafted:
        def __reduce__(self):
            storage = _Storage("0", np.dtype(np.float32), np.zeros(4, np.float32).tobytes())
            return _REBUILD_TENSOR, (storage, 3, (4,), (1,), False, OrderedDict())

    import io
    buf = io.BytesIO()
    _Pickler(buf, []).dump({"w": Crafted()})
    path = tmp_path / "oob.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/data/0", np.zeros(4, np.float32).tobytes())
    with pytest.raises(CheckpointError, match="needs 7 elements but storage '0' has 4"):
        load_pth(path)


# ---- bad files: the message names the file -------------------------------------------------------

@pytest.mark.parametrize("name", FIXTURES)
def test_truncated_file(shared_dir, tmp_path, name):
    data = open(fixture_ckpt(shared_dir, name), "rb").read()
    for cut in (len(data) // 2, len(data) - 100):
        path = tmp_path / f"cut{cut}.pth"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as err:
            load_pth(path)
        assert str(path) in str(err.value) and "truncated" in str(err.value)


def test_random_bytes_and_other_files(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match="noise.pth: not a PyTorch checkpoint"):
        load_pth(path)
    other = tmp_path / "other.pth"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="other.pth: zip file without"):
        load_pth(other)
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="plain.pth: not a PyTorch checkpoint"):
        load_pth(plain)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match="nope.pth: no such file"):
        load_pth(path)
