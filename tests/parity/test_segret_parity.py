"""SegRet-T against the reference PyTorch outputs, and a .pth export round trip."""
import importlib.util
import json
import os

import numpy as np
import pytest

from jseg_ret.interop import export_pth, load_checkpoint_into, load_pth
from jseg_ret.interop.reference import read_reference_table

SEGRET_T = os.path.join("configs", "segret", "segret-t_512x512_ade20k.py")
TOL = 1e-4


def fixture_path(shared_dir, name):
    return os.path.join(shared_dir, "fixtures", "official", "segret_t_ade20k", name)


def build(repo_root):
    from jseg_ret import Config, build_segmentor

    return build_segmentor(Config.fromfile(os.path.join(repo_root, SEGRET_T)).model)


def test_segret_t_matches_reference_outputs(shared_dir, repo_root, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "parity_tool", os.path.join(repo_root, "tools", "parity.py"))
    parity = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parity)
    out_json = str(tmp_path / "parity.json")
    rc = parity.main(["--config", os.path.join(repo_root, SEGRET_T),
                      "--checkpoint", fixture_path(shared_dir, "checkpoint.pth"),
                      "--input", fixture_path(shared_dir, "input.npy"),
                      "--reference", fixture_path(shared_dir, "outputs.npz"),
                      "--tol", str(TOL), "--json", out_json])
    printed = capsys.readouterr().out
    with open(out_json) as f:
        results = {r["name"]: r for r in json.load(f)["results"]}
    assert set(results) == set(parity.OUTPUT_NAMES), printed
    failing = {k: (r["rel_err"], r["note"]) for k, r in results.items() if not r["pass"]}
    assert rc == 0 and not failing, printed


@pytest.mark.torch
def test_export_round_trip(shared_dir, repo_root, tmp_path):
    torch = pytest.importorskip("torch")
    model = build(repo_root)
    load_checkpoint_into(model, fixture_path(shared_dir, "checkpoint.pth"), verbose=False)
    exported = str(tmp_path / "segret_t.pth")
    export_pth(model, exported, meta={"note": "round trip"})

    loaded = torch.load(exported)  # weights_only=True by default
    table = read_reference_table(os.path.join(shared_dir, "reference",
                                              "segret_t_ade20k_state_dict.tsv"))
    assert set(loaded["state_dict"]) == set(table)
    for key, shape in table.items():
        assert tuple(loaded["state_dict"][key].shape) == shape, key
        if key.endswith("num_batches_tracked"):
            assert loaded["state_dict"][key].dtype == torch.int64
    assert loaded["meta"]["note"] == "round trip"

    ours = load_pth(exported)["state_dict"]
    for key, t in loaded["state_dict"].items():
        assert np.array_equal(ours[key], t.numpy()), key

    again = build(repo_root)
    report = load_checkpoint_into(again, exported, verbose=False)
    assert report.ok
    first, second = model.state_dict(), again.state_dict()
    for key, var in first.items():
        assert np.array_equal(var.numpy(), second[key].numpy()), key
