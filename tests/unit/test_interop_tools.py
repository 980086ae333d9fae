"""tools/convert_checkpoint.py and the input checks of tools/parity.py."""
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
