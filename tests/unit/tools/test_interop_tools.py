"""tools/convert_checkpoint.py and the input checks of tools/parity.py."""
import argparse
import importlib.util
import os

import numpy as np
import pytest

from jseg_ret.interop import load_pkl, load_pth, save_pth
from jseg_ret.interop.reference import read_reference_table

SEGRET_T = os.path.join("configs", "segret", "segret-t_512x512_ade20k.py")


def load_tool(repo_root, name):
    spec = importlib.util.spec_from_file_location(f"tool_{name}",
                                                  os.path.join(repo_root, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def convert(repo_root):
    return load_tool(repo_root, "convert_checkpoint")


@pytest.fixture(scope="module")
def parity(repo_root):
    return load_tool(repo_root, "parity")


def fixture_dir(shared_dir, name):
    return os.path.join(shared_dir, "fixtures", "official", name)


def test_convert_pth_to_pkl_and_back(convert, shared_dir, repo_root, tmp_path, capsys):
    src = os.path.join(fixture_dir(shared_dir, "segret_t_ade20k"), "checkpoint.pth")
    cfg = os.path.join(repo_root, SEGRET_T)
    pkl, pth = str(tmp_path / "segret_t.pkl"), str(tmp_path / "segret_t.pth")
    assert convert.main([src, pkl, "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "dropped: 12 keys" in out and "missing (model keys without a value): 0" in out
    assert "backbone.patch_embed.proj.1.num_batches_tracked" in out and "verified" in out
    original = load_pth(src)
    converted = load_pkl(pkl)
    assert converted["meta"]["family"] == "segret"
    assert set(converted["state_dict"]) == {k for k in original["state_dict"]
                                            if not k.endswith("num_batches_tracked")}
    assert convert.main([pkl, pth, "--config", cfg]) == 0
    back = load_pth(pth)["state_dict"]
    table = read_reference_table(os.path.join(shared_dir, "reference",
                                              "segret_t_ade20k_state_dict.tsv"))
    assert list(back) == list(table)
    for key, arr in back.items():
        if key.endswith("num_batches_tracked"):
            assert arr.dtype == np.int64 and arr.shape == () and arr == 0
        else:
            assert np.array_equal(arr, original["state_dict"][key]), key


def test_convert_backbone_only(convert, shared_dir, tmp_path, capsys):
    table = read_reference_table(os.path.join(shared_dir, "reference",
                                              "segnext_t_ade20k_state_dict.tsv"))
    backbone = {k[len("backbone."):]: np.zeros(s, np.float32) for k, s in table.items()
                if k.startswith("backbone.") and not k.endswith("num_batches_tracked")}
    src = str(tmp_path / "mscan_t.pth")
    save_pth({"state_dict": {**backbone, "head.weight": np.zeros((1000, 256), np.float32),
                             "head.bias": np.zeros(1000, np.float32)}}, src)
    dst = str(tmp_path / "mscan_t.pkl")
    assert convert.main([src, dst, "--backbone-only"]) == 0
    out = capsys.readouterr().out
    assert "2 x ImageNet classifier" in out and "head.weight" in out
    state = load_pkl(dst)["state_dict"]
    assert set(state) == set(backbone)  # backbone layout: no 'backbone.' prefix
    assert load_pkl(dst)["meta"]["family"] == "segnext"


def test_convert_bad_arguments(convert, tmp_path, capsys):
    assert convert.main([str(tmp_path / "a.pth"), str(tmp_path / "b.pth")]) == 2
    assert convert.main([str(tmp_path / "missing.pth"), str(tmp_path / "b.pkl")]) == 2
    assert "missing.pth: no such file" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "b.pkl")


def _parity_args(shared_dir, repo_root, **over):
    d = fixture_dir(shared_dir, "segret_t_ade20k")
    args = {"config": os.path.join(repo_root, SEGRET_T),
            "checkpoint": os.path.join(d, "checkpoint.pth"),
            "input": os.path.join(d, "input.npy"), "reference": os.path.join(d, "outputs.npz")}
    args.update(over)
    return [x for k, v in args.items() for x in (f"--{k}", v)]


def test_parity_bad_inputs(parity, shared_dir, repo_root, tmp_path, capsys):
    missing = str(tmp_path / "none.pth")
    assert parity.main(_parity_args(shared_dir, repo_root, checkpoint=missing)) == 2
    assert f"--checkpoint {missing}: no such file" in capsys.readouterr().err
    wrong = str(tmp_path / "wrong.npy")
    np.save(wrong, np.zeros((1, 3, 64, 64), np.float32))
    assert parity.main(_parity_args(shared_dir, repo_root, input=wrong)) == 2
    assert "does not match the reference seg_logits" in capsys.readouterr().err


def test_parity_compare_rows(parity):
    ref = np.array([[1.0, -2.0], [4.0, 0.5]], np.float32)
    row = parity.compare("x", ref + np.float32(4e-4), ref, tol=1e-4)
    assert row["rel_err"] == pytest.approx(1e-4, rel=1e-3) and row["max_abs_err"] > 0
    assert parity.compare("x", ref, ref, tol=1e-4)["pass"]
    assert not parity.compare("x", ref + 1, ref, tol=1e-4)["pass"]
    assert not parity.compare("x", ref[:1], ref, tol=1e-4)["pass"]
    assert not parity.compare("x", ref * np.nan, ref, tol=1e-4)["pass"]


# ---- weights key, skip-classifier, overwrite, errors (issue 17: items 3b, 18, 19) ----------------

def _segnext_backbone(shared_dir, fill):
    table = read_reference_table(os.path.join(shared_dir, "reference",
                                              "segnext_t_ade20k_state_dict.tsv"))
    return {k[len("backbone."):]: np.full(s, fill, np.float32) for k, s in table.items()
            if k.startswith("backbone.") and not k.endswith("num_batches_tracked")}


def _training_checkpoint(shared_dir, path):
    """A classification training checkpoint: weights under 'model' and EMA under 'model_ema'."""
    head = {"head.weight": np.zeros((1000, 256), np.float32), "head.bias": np.zeros(1000)}
    save_pth({"model": {**_segnext_backbone(shared_dir, 1.0), **head},
              "model_ema": {**_segnext_backbone(shared_dir, 2.0), **head},
              "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]},
              "epoch": 299}, path)
    return path


def test_convert_weights_key(convert, shared_dir, tmp_path, capsys):
    src = _training_checkpoint(shared_dir, str(tmp_path / "mscan_t.pth"))
    auto, ema = str(tmp_path / "auto.pkl"), str(tmp_path / "ema.pkl")
    assert convert.main([src, auto, "--backbone-only"]) == 0
    out = capsys.readouterr().out
    assert (f"weights: ['model'] of {src} (--weights-key auto; the file also holds weights "
            "under ['model_ema'])") in out
    assert convert.main([src, ema, "--backbone-only", "--weights-key", "model_ema"]) == 0
    assert "weights: ['model_ema']" in capsys.readouterr().out
    assert all((v == 1).all() for v in load_pkl(auto)["state_dict"].values())
    assert all((v == 2).all() for v in load_pkl(ema)["state_dict"].values())
    assert load_pkl(ema)["meta"]["weights_key"] == "model_ema"
    assert convert.main([src, str(tmp_path / "x.pkl"), "--weights-key", "ema"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no key 'ema'" in err and "'model_ema'" in err


@pytest.mark.torch
def test_convert_deit_style_checkpoint_with_args(convert, shared_dir, tmp_path, capsys):
    # what RMT's ImageNet main.py writes: args (argparse.Namespace) next to model/model_ema
    torch = pytest.importorskip("torch")
    backbone = {k: torch.from_numpy(v) for k, v in _segnext_backbone(shared_dir, 1.0).items()}
    src = str(tmp_path / "checkpoint.pth")
    torch.save({"model": backbone, "model_ema": backbone, "optimizer": {"state": {}},
                "lr_scheduler": {"last_epoch": 299}, "scaler": {"scale": 65536.0},
                "epoch": 299, "args": argparse.Namespace(model="MSCAN_T", lr=1e-3, betas=None)},
               src)
    assert convert.main([src, str(tmp_path / "mscan_t.pkl"), "--backbone-only"]) == 0
    assert "weights: ['model']" in capsys.readouterr().out


def _fixture_with_classes(shared_dir, path, num_classes):
    ckpt = load_pth(os.path.join(fixture_dir(shared_dir, "segret_t_ade20k"), "checkpoint.pth"))
    sd = ckpt["state_dict"]
    for key in ("decode_head.conv_seg.weight", "decode_head.conv_seg.bias",
                "decode_head.linear_pred.weight", "decode_head.linear_pred.bias"):
        sd[key] = sd[key][:num_classes]
    save_pth(ckpt, path)
    return path


def test_convert_skip_classifier(convert, shared_dir, repo_root, tmp_path, capsys):
    src = _fixture_with_classes(shared_dir, str(tmp_path / "cityscapes.pth"), 19)
    cfg = os.path.join(repo_root, SEGRET_T)  # ADE20K: 150 classes
    dst = str(tmp_path / "out.pkl")
    assert convert.main([src, dst, "--config", cfg]) == 1
    err = capsys.readouterr().err
    assert "trained for 19 classes, the model has 150" in err and "--skip-classifier" in err
    assert err.strip().splitlines()[-1].startswith("convert_checkpoint: error: ")
    assert not os.path.exists(dst)
    assert convert.main([src, dst, "--config", cfg, "--skip-classifier"]) == 0
    out = capsys.readouterr().out
    assert "4 x classifier left out (--skip-classifier)" in out and "verified" in out
    state = load_pkl(dst)["state_dict"]
    assert "decode_head.conv_seg.weight" not in state and "backbone.norm0.weight" not in state
    assert len(state) == 383 - 12 - 4  # all but num_batches_tracked and the classifier


def test_convert_refuses_to_overwrite(convert, shared_dir, tmp_path, capsys):
    src = _training_checkpoint(shared_dir, str(tmp_path / "mscan_t.pth"))
    dst = tmp_path / "out.pkl"
    dst.write_bytes(b"the user's file")
    assert convert.main([src, str(dst), "--backbone-only"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert dst.read_bytes() == b"the user's file"
    assert convert.main([src, str(dst), "--backbone-only", "--overwrite"]) == 0
    assert load_pkl(dst)["meta"]["family"] == "segnext"
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []


def _one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convert_checkpoint: error: "), err
    return lines[0]


def test_convert_errors_are_one_line_with_exit_codes(convert, shared_dir, tmp_path, capsys,
                                                     monkeypatch):
    src = _training_checkpoint(shared_dir, str(tmp_path / "mscan_t.pth"))
    evil = tmp_path / "evil.pth"
    evil.write_bytes(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00idR.")
    # bad input: exit 2, one line naming the file; --debug adds the traceback
    assert convert.main([str(evil), str(tmp_path / "a.pkl")]) == 2
    assert "evil.pth: refused to load global 'os.system'" in _one_error_line(
        capsys.readouterr().err)
    assert convert.main([str(evil), str(tmp_path / "a.pkl"), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("convert_checkpoint:")
    folder = tmp_path / "folder.pth"
    folder.mkdir()
    assert convert.main([str(folder), str(tmp_path / "a.pkl")]) == 2
    assert "folder.pth: is a directory" in _one_error_line(capsys.readouterr().err)
    assert convert.main([src, str(tmp_path / "a.pkl"), "--config", "nope.py"]) == 2
    assert "--config nope.py: no such file" in _one_error_line(capsys.readouterr().err)
    # write errors: exit 3 (1 is "check failed"), naming the destination
    missing = str(tmp_path / "no" / "out.pkl")
    assert convert.main([src, missing, "--backbone-only"]) == 3
    assert f"cannot write {missing}: directory" in _one_error_line(capsys.readouterr().err)

    def disk_full(obj, path):
        raise OSError(28, "No space left on device", path)
    monkeypatch.setattr(convert.interop, "save_pkl", disk_full)
    dst = str(tmp_path / "full.pkl")
    assert convert.main([src, dst, "--backbone-only"]) == 3
    line = _one_error_line(capsys.readouterr().err)
    assert f"cannot write {dst}" in line and "No space left on device" in line

    # a bug is not a user error: exit 4 with its traceback
    def broken(*args, **kwargs):
        raise ValueError("a bug")
    monkeypatch.setattr(convert.interop, "map_checkpoint_keys", broken)
    assert convert.main([src, str(tmp_path / "b.pkl")]) == 4
    err = capsys.readouterr().err
    assert "Traceback" in err and "ValueError: a bug" in err and "internal error" in err
