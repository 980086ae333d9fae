"""Training checkpoints as real scripts write them (issue 17, item 3b): DeiT/RMT ``main.py``
({'model', 'optimizer', 'lr_scheduler', 'scaler', 'model_ema', 'epoch', 'args'}), mmcv ``meta``
with numpy values. They hold data-only objects (argparse.Namespace, numpy scalars, arrays and
dtypes) that the reader rebuilds as inert data, and compares with torch.load."""
import argparse
import collections
import io
import pathlib
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from jseg_ret.interop import CheckpointError, load_pkl, load_pth, read_weights, save_pkl

torch = pytest.importorskip("torch")
try:  # numpy >= 2 names it numpy._core
    from numpy._core import multiarray
except ImportError:
    from numpy.core import multiarray


def deit_style_checkpoint():
    """What DeiT/RMT ``main.py`` saves each epoch
    (``utils.save_on_master(..., checkpoint_path)``)."""
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                torch.nn.Flatten(), torch.nn.Linear(4, 10))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    ema = {k: v.clone() * 0.5 for k, v in model.state_dict().items()}  # timm ModelEma weights
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    model(torch.randn(2, 3, 3, 3, generator=g)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=300)
    args = argparse.Namespace(
        model="RMT_T", batch_size=128, epochs=300, input_size=224, drop_path=0.1, model_ema=True,
        model_ema_decay=0.99996, opt="adamw", opt_eps=1e-8, opt_betas=None, clip_grad=None,
        lr=1e-3, sched="cosine", warmup_lr=1e-6, smoothing=0.1, mixup=0.8, cutmix=1.0,
        cutmix_minmax=None, data_path="/datasets/imagenet", data_set="IMNET",
        output_dir="output/rmt_t", device="cuda", seed=0, resume="", start_epoch=0, eval=False,
        dist_eval=True, num_workers=10, pin_mem=True, world_size=8, dist_url="env://",
        rank=0, gpu=0, distributed=True, dist_backend="nccl", repeated_aug=True,
        betas=[0.9, 0.999], scale=(0.08, 1.0))
    return {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "lr_scheduler": sched.state_dict(),
            "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                       "growth_interval": 2000, "_growth_tracker": 17},
            "model_ema": ema, "epoch": 299, "args": args}


def mmcv_style_checkpoint():
    g = torch.Generator().manual_seed(1)
    return {"meta": {"mmcv_version": "1.7.1", "time": "Mon Jan  1 00:00:00 2024",
                     "CLASSES": ("road", "sidewalk"), "PALETTE": [[128, 64, 128], [244, 35, 232]],
                     "seed": np.int64(1234), "epoch": 1, "iter": 160000,
                     "hook_msgs": {"best_score": np.float64(0.4716), "best_ckpt": "best.pth",
                                   "last_ckpt": "iter_160000.pth"},
                     "np_f32": np.float32(1.5), "np_bool": np.bool_(True), "np_str": np.str_("abc"),
                     "np_dtype": np.dtype("float16"), "np_be": np.dtype(">i4"),
                     "hist": np.arange(12, dtype=np.int64).reshape(3, 4),
                     "hist_f": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
                     "empty": np.zeros((0, 3), np.float32),
                     "big_endian": np.arange(3, dtype=">f8")},
            "state_dict": OrderedDict([("conv.weight", torch.randn(4, 3, 1, 1, generator=g))]),
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.01, "params": [0]}]}}


def _as_numpy(obj):
    """torch.load's result with tensors as numpy arrays, for comparing with ours."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().numpy()
    if isinstance(obj, dict):
        return type(obj)((k, _as_numpy(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_as_numpy(v) for v in obj)
    if isinstance(obj, argparse.Namespace):
        return argparse.Namespace(**{k: _as_numpy(v) for k, v in vars(obj).items()})
    return obj


def assert_equal(ours, theirs, where="checkpoint"):
    assert type(ours) is type(theirs), (where, type(ours), type(theirs))
    if isinstance(theirs, np.ndarray):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, where
        assert np.array_equal(ours, theirs), where
    elif isinstance(theirs, dict):
        assert list(ours) == list(theirs), where
        for k in theirs:
            assert_equal(ours[k], theirs[k], f"{where}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_equal(a, b, f"{where}[{i}]")
    elif isinstance(theirs, argparse.Namespace):
        assert_equal(vars(ours), vars(theirs), f"{where}.args")
    elif isinstance(theirs, np.generic):
        assert ours.dtype == theirs.dtype and ours == theirs, where
    else:
        assert ours == theirs, where


def torch_load_allowing_data(path):
    """torch.load(weights_only=True) with the data-only globals these files name allowed."""
    allowed = [argparse.Namespace, bytes, multiarray.scalar, multiarray._reconstruct, np.ndarray,
               np.dtype] + [type(np.dtype(c)) for c in ("f2", "f4", "f8", "i4", "i8", "?", "U3",
                                                        ">i4", ">f8")]
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, weights_only=True)


@pytest.mark.torch
@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("make", [deit_style_checkpoint, mmcv_style_checkpoint],
                         ids=["deit_main", "mmcv_meta"])
def test_training_checkpoints_load_like_torch(tmp_path, make, zip_format):
    path = str(tmp_path / "ckpt.pth")
    torch.save(make(), path, _use_new_zipfile_serialization=zip_format)
    ours = load_pth(path)
    # what the file means: a full (trusting) unpickle of this test-made file
    assert_equal(ours, _as_numpy(torch.load(path, weights_only=False)))
    # torch's weights-only loader, once these data globals are allowed, reads the same values
    assert_equal(ours, _as_numpy(torch_load_allowing_data(path)))
    # by default it refuses them; ours rebuilds them inertly (the file never chooses a function
    # to call), so the default refusal is not needed for safety here
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


@pytest.mark.torch
def test_weights_key_picks_model_or_ema(tmp_path):
    path = str(tmp_path / "rmt_t.pth")
    ckpt = deit_style_checkpoint()
    torch.save(ckpt, path)
    auto = read_weights(path)
    assert auto.path == ["model"] and auto.candidates == ["model", "model_ema"]
    ema = read_weights(path, "model_ema")
    assert ema.path == ["model_ema"]
    for k, v in ckpt["model_ema"].items():
        assert np.array_equal(ema.state[k], v.numpy()), k
    with pytest.raises(CheckpointError, match=r"has no key 'model_emma'.*'model_ema'"):
        read_weights(path, "model_emma")
    with pytest.raises(CheckpointError, match=r"no state dict found at \['args'\]"):
        read_weights(path, "args")


def test_own_training_checkpoint_round_trip(tmp_path):
    # our own .pkl checkpoints hold numpy arrays, RNG state tuples and plain config values
    state = {"meta": {"iter": 3}, "state_dict": {"w": np.arange(6, dtype=np.float32)},
             "rng": {"numpy": np.random.RandomState(0).get_state(), "python": (3, (1, 2), None)},
             "optimizer": {"type": "AdamW", "n_step": 3,
                           "groups": [{"lr": 0.1, "params": ["w"],
                                       "state": {"m": [np.ones(6, np.float32)]}}]}}
    path = save_pkl(state, tmp_path / "iter_3.pkl")
    back = load_pkl(path)
    assert back["rng"]["numpy"][0] == "MT19937"
    assert np.array_equal(back["rng"]["numpy"][1], state["rng"]["numpy"][1])
    assert back["rng"]["numpy"][1].dtype == np.uint32
    assert back["optimizer"] == {**state["optimizer"], "groups": back["optimizer"]["groups"]}
    assert np.array_equal(back["optimizer"]["groups"][0]["state"]["m"][0], np.ones(6))


# ---- inert rebuilding: what a file may not do through these objects ------------------------------

def _zip(tmp_path, obj_bytes):
    path = tmp_path / "x.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", obj_bytes)
    return path


def test_numpy_object_arrays_and_odd_dtypes_refused(tmp_path):
    for value, match in ((np.array([1, "a"], dtype=object), "numpy dtype 'O8' refused"),
                         (np.zeros(2, dtype=[("a", "i4")]), "numpy dtype 'V4' refused"),
                         (np.datetime64("2024-01-01"), "numpy dtype 'M8' refused")):
        path = _zip(tmp_path, pickle.dumps({"v": value}, protocol=2))
        with pytest.raises(CheckpointError, match=match):
            load_pth(path)


def test_namespace_with_dunder_attribute_refused(tmp_path):
    ns = argparse.Namespace(lr=1)
    buf = io.BytesIO()
    pickle.dump(ns, buf, protocol=2)
    data = buf.getvalue().replace(b"X\x02\x00\x00\x00lr", b"X\x09\x00\x00\x00__class__")
    with pytest.raises(CheckpointError, match="Namespace attribute '__class__' refused"):
        load_pth(_zip(tmp_path, data))


def test_defaultdict_and_paths_come_back_as_plain_data(tmp_path):
    obj = {"d": collections.defaultdict(list, {"a": [1]}),
           "p": pathlib.PurePosixPath("/data/imagenet"), "s": {1, 2}, "f": frozenset([3]),
           "c": 1 + 2j, "sl": slice(1, 5, 2), "b": bytearray(b"xy")}
    back = load_pth(_zip(tmp_path, pickle.dumps(obj, protocol=2)))
    assert back == {"d": {"a": [1]}, "p": "/data/imagenet", "s": {1, 2}, "f": frozenset([3]),
                    "c": 1 + 2j, "sl": slice(1, 5, 2), "b": bytearray(b"xy")}
    assert type(back["d"]) is dict
    # a class named as a value comes back as a name, never as the reader's shared stand-in
    back = load_pth(_zip(tmp_path, pickle.dumps({"cls": argparse.Namespace}, protocol=2)))
    assert back["cls"] == "jseg_ret.interop.inert.NamespaceRef"
    bad = collections.defaultdict(dict)
    bad.default_factory = print  # a file-chosen callable to run on a missing key
    with pytest.raises(CheckpointError, match="__builtin__.print"):
        load_pth(_zip(tmp_path, pickle.dumps({"d": bad}, protocol=2)))
