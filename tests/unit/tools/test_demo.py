"""tools/demo.py on bad inputs (issue 17): FIFOs are not opened (5), outputs of x.png and x.jpg do
not collide (14), user errors are one 'error:' line, tracebacks only with --debug (18), a bad
image is reported and the rest still written, exit non-zero with the count (19)."""
import os
import threading

import numpy as np
import pytest
from PIL import Image

import demo
from jseg_ret.interop import CheckpointError
from tests.helpers.stubs import ArgmaxModel


@pytest.fixture
def stub_model(monkeypatch):
    monkeypatch.setattr(demo, "init_segmentor", lambda config, checkpoint: ArgmaxModel())


def write_rgb(path, seed=0):
    rgb = np.random.default_rng(seed).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return rgb


def run(args, timeout=30):
    """demo.main in a thread: a hang fails the test instead of blocking the suite."""
    result = {}

    def target():
        try:
            result["rc"] = demo.main(args)
        except BaseException as e:  # noqa: B902 - handed to the test's thread
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" in result:
        raise result["error"]
    return result.get("rc", "hung")


def test_fifo_named_png_is_not_opened(tmp_path, stub_model, capsys):
    src = tmp_path / "in"
    src.mkdir()
    write_rgb(src / "a.png")
    fifo = src / "pipe.png"
    os.mkfifo(fifo)
    try:
        rc = run(["cfg.py", "ckpt.pkl", str(src), "--out-dir", str(tmp_path / "out")])
    finally:  # release a reader blocked on the FIFO, if any
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert rc == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png_mask.png", "a.png_overlay.png"]


def test_folder_named_png_is_not_an_image(tmp_path, stub_model):
    src = tmp_path / "in"
    (src / "dir.png").mkdir(parents=True)
    write_rgb(src / "a.png")
    assert run(["cfg.py", "ckpt.pkl", str(src), "--out-dir", str(tmp_path / "out")]) == 0
    assert len(os.listdir(tmp_path / "out")) == 2


def test_fifo_given_directly_is_an_error(tmp_path, stub_model, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert run(["cfg.py", "ckpt.pkl", str(fifo), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "pipe.png" in err and "not a regular file" in err


def test_same_stem_different_suffix_outputs_do_not_collide(tmp_path, stub_model, capsys):
    src = tmp_path / "in"
    src.mkdir()
    rgb_png = write_rgb(src / "x.png", seed=1)
    write_rgb(src / "x.bmp", seed=2)
    out = tmp_path / "out"
    assert run(["cfg.py", "ckpt.pkl", str(src), "--out-dir", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["x.bmp_mask.png", "x.bmp_overlay.png",
                                       "x.png_mask.png", "x.png_overlay.png"]
    assert "wrote 4 images" in capsys.readouterr().out
    mask = np.asarray(Image.open(out / "x.png_mask.png"))
    np.testing.assert_array_equal(mask, np.asarray(ArgmaxModel.PALETTE)[rgb_png.argmax(axis=2)])


def test_bad_image_is_reported_and_the_rest_written(tmp_path, stub_model, capsys):
    src = tmp_path / "in"
    src.mkdir()
    write_rgb(src / "a.png")
    (src / "b.png").write_bytes(b"not an image")
    write_rgb(src / "c.png")
    out = tmp_path / "out"
    assert run(["cfg.py", "ckpt.pkl", str(src), "--out-dir", str(out)]) == 2
    captured = capsys.readouterr()
    assert sorted(os.listdir(out)) == ["a.png_mask.png", "a.png_overlay.png",
                                       "c.png_mask.png", "c.png_overlay.png"]
    assert "b.png" in captured.err and "Traceback" not in captured.err
    assert "1 of 3 images failed" in captured.err


def test_user_errors_are_one_line_tracebacks_only_with_debug(tmp_path, capsys):
    cfg = tmp_path / "no_model.py"
    cfg.write_text("x = 1\n")
    img = tmp_path / "a.png"
    write_rgb(img)
    assert demo.main([str(cfg), "ckpt.pkl", str(img), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "model" in err
    with pytest.raises(AttributeError, match="no key 'model'"):  # the traceback's own error
        demo.main([str(cfg), "ckpt.pkl", str(img), "--out-dir", str(tmp_path / "o"), "--debug"])


def test_unwritable_output_is_a_write_error(tmp_path, stub_model, capsys):
    img = tmp_path / "a.png"
    write_rgb(img)
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be")
    assert run(["cfg.py", "ckpt.pkl", str(img), "--out-dir", str(blocker)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(blocker) in err and "Traceback" not in err
    assert blocker.read_text().startswith("a file")


def test_bad_checkpoint_is_one_line(tmp_path, capsys, monkeypatch):
    def refuse(config, checkpoint):
        raise CheckpointError(f"{checkpoint}: not a checkpoint")
    monkeypatch.setattr(demo, "init_segmentor", refuse)
    img = tmp_path / "a.png"
    write_rgb(img)
    assert demo.main(["c.py", "bad.pth", str(img), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.pth" in err and err.count("\n") == 1
