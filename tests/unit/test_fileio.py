"""utils.fileio: a failed or killed write leaves the old file whole and no temporary behind, the
error names the path, and every writer for the user goes through it."""
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jseg_ret  # noqa: F401  (prepares Jittor before its import)
from jseg_ret.config import Config
from jseg_ret.engine.checkpoint import remove_stale_temporaries
from jseg_ret.utils.fileio import (
    OutputWriteError,
    atomic_open,
    atomic_path,
    write_bytes,
    write_json,
    write_output,
    write_text,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    assert write_text(path, "new") == str(path)
    assert path.read_text() == "new"
    write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    write_json(path, {"x": [1, 2]})
    assert json.loads(path.read_text()) == {"x": [1, 2]}
    assert os.listdir(tmp_path) == ["a.txt"]


def test_an_error_mid_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(path, "w") as f:
            f.write("half of the new")
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_os_error_names_the_path_and_what(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    path.write_text("old")
    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OutputWriteError) as info:
        write_json(path, {"mIoU": 1.0}, "the evaluation summary")
    e = info.value
    assert str(e) == f"{path}: could not write the evaluation summary: No space left on device"
    assert isinstance(e, OSError) and e.errno == errno.ENOSPC and e.filename == str(path)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["summary.json"]


def test_a_missing_folder_is_an_output_write_error_unless_made(tmp_path):
    path = tmp_path / "new" / "deeper" / "a.png"
    with pytest.raises(OutputWriteError, match=r"a\.png: could not write the image: No such"):
        write_bytes(path, b"x", "the image")
    write_bytes(path, b"x", "the image", makedirs=True)
    assert path.read_bytes() == b"x"


def test_write_output_wraps_os_errors_once(tmp_path):
    path = tmp_path / "iter_1.pkl"
    with pytest.raises(OutputWriteError, match=r"iter_1\.pkl: could not write the checkpoint: No"):
        write_output("the checkpoint", path, no_space)

    inner = tmp_path / "missing" / "x.bin"  # its own OutputWriteError passes through as it is
    with pytest.raises(OutputWriteError) as info:
        write_output("the run", tmp_path, lambda: write_bytes(inner, b"x", "the weights"))
    assert str(info.value).startswith(f"{inner}: could not write the weights: No such file")
    assert write_output("x", path, lambda: 7) == 7


def test_atomic_path_gives_a_temporary_with_the_suffix_in_the_same_folder(tmp_path):
    path = tmp_path / "mask.png"
    with atomic_path(path, suffix=".png") as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".png")
        assert f".tmp-{os.getpid()}" in tmp
        with open(tmp, "wb") as f:
            f.write(b"png")
    assert path.read_bytes() == b"png"


def test_json_that_cannot_be_serialised_writes_nothing(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("{}")
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert path.read_text() == "{}" and os.listdir(tmp_path) == ["a.json"]


def test_a_killed_write_leaves_the_old_file_and_a_temporary_the_runner_removes(tmp_path):
    path = tmp_path / "iter_2.pkl"
    path.write_bytes(b"the old checkpoint")
    script = ("import os, sys; from jseg_ret.utils.fileio import atomic_open\n"
              "with atomic_open(sys.argv[1], 'wb') as f:\n"
              "    f.write(b'half'); f.flush(); os._exit(9)\n")
    r = subprocess.run([sys.executable, "-c", script, str(path)], timeout=300,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 9
    assert path.read_bytes() == b"the old checkpoint"
    left = [n for n in os.listdir(tmp_path) if n != "iter_2.pkl"]
    assert len(left) == 1 and left[0].startswith("iter_2.pkl.tmp-")
    assert remove_stale_temporaries(str(tmp_path)) == [str(tmp_path / left[0])]
    assert os.listdir(tmp_path) == ["iter_2.pkl"]


def test_a_bad_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mode 'a'"):
        with atomic_open(tmp_path / "log", "a"):
            pass


# ---------------------------------------------------------------- every writer for the user
def _writers():
    from jseg_ret.apis.visualization import save_png
    from jseg_ret.engine.evaluator import save_prediction_png
    from jseg_ret.evaluation import cityscapes_export, save_summary_json
    from jseg_ret.evaluation.submission import SubmissionFormat
    from jseg_ret.interop import save_pkl, save_pth

    class Dataset:
        CLASSES = ("a", "b")
        PALETTE = [[0, 0, 0], [255, 0, 0]]

    pred = np.array([[0, 1], [1, 0]])
    return {
        "summary.json": lambda p: save_summary_json({"mIoU": 1.0}, p),
        "w.pkl": lambda p: save_pkl({"state_dict": {"w": np.ones(2, np.float32)}}, p),
        "w.pth": lambda p: save_pth({"state_dict": {"w": np.ones(2, np.float32)}}, p),
        "cfg.yaml": lambda p: Config({"a": 1}).dump(p),
        "pred.png": lambda p: save_prediction_png(pred, p),
        "mask.png": lambda p: save_png(np.zeros((2, 2, 3), np.uint8), p),
        "city.png": lambda p: cityscapes_export(pred, p),
        "sub.png": lambda p: SubmissionFormat(Dataset()).save(pred, p),
    }


@pytest.mark.parametrize("name", sorted(_writers()))
def test_every_writer_is_atomic_and_names_the_path(name, tmp_path, monkeypatch):
    write = _writers()[name]
    path = str(tmp_path / name)
    write(path)
    before = open(path, "rb").read()
    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OutputWriteError, match=f"{name}: could not write .*No space"):
        write(path)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == [name]


def test_a_refused_overwrite_stays_refused(tmp_path):
    from jseg_ret.parity.train_inputs import TrainInputError
    from jseg_ret.parity.train_parity import save_train_reference

    path = tmp_path / "ref.npz"
    path.write_bytes(b"keep me")
    with pytest.raises(TrainInputError, match="refusing to overwrite"):
        save_train_reference(str(path), {"a": np.zeros(2)})
    assert path.read_bytes() == b"keep me"
    save_train_reference(str(path), {"a": np.zeros(2)}, overwrite=True)
    assert np.load(path)["a"].shape == (2,)
    assert os.listdir(tmp_path) == ["ref.npz"]


def test_convert_checkpoint_refuses_an_existing_destination(tmp_path):
    src = tmp_path / "w.pkl"
    dst = tmp_path / "w.pth"
    from jseg_ret.interop import save_pkl
    save_pkl({"state_dict": {"w": np.ones(2, np.float32)}}, str(src))
    dst.write_bytes(b"keep me")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert_checkpoint.py"),
                        str(src), str(dst)], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 2 and "exists; pass --overwrite" in r.stderr, r.stderr
    assert dst.read_bytes() == b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["w.pkl", "w.pth"]
