"""Loading checkpoints into the Jittor SegRet model: reports, strictness, classifier, families."""
import os
from collections import OrderedDict

import numpy as np
import pytest

from jseg_ret.interop import CheckpointError, load_checkpoint_into, load_pth, save_pkl
from jseg_ret.interop.keymaps import REASON_BN, REASON_IMAGENET_HEAD, REASON_SKIP_CLASSIFIER
from jseg_ret.interop.reference import read_reference_table

SEGRET_T = os.path.join("configs", "segret", "segret-t_512x512_ade20k.py")
CLASSIFIER = ["decode_head.conv_seg.weight", "decode_head.conv_seg.bias",
              "decode_head.linear_pred.weight", "decode_head.linear_pred.bias"]


@pytest.fixture
def model(repo_root):
    from jseg_ret import Config, build_segmentor

    return build_segmentor(Config.fromfile(os.path.join(repo_root, SEGRET_T)).model)


@pytest.fixture(scope="module")
def segret_ckpt(shared_dir):
    path = os.path.join(shared_dir, "fixtures", "official", "segret_t_ade20k", "checkpoint.pth")
    return path, load_pth(path)["state_dict"]


def weights(model):
    return OrderedDict((k, v.numpy().copy()) for k, v in model.state_dict().items())


def test_full_load_of_reference_checkpoint(model, segret_ckpt):
    path, ref = segret_ckpt
    report = load_checkpoint_into(model, path)
    assert report.ok and report.family == "segret"
    assert not (report.missing or report.unexpected or report.mismatched or report.skipped)
    assert set(report.dropped_keys()) == {k for k in ref if k.endswith("num_batches_tracked")}
    assert {r for _, r in report.dropped} == {REASON_BN}
    got = weights(model)
    assert len(report.mapped) == len(got)
    for key, arr in got.items():
        assert arr.dtype == np.float32, key
        assert np.array_equal(arr, ref[key].astype(np.float32)), key  # float16 upcast exactly


def test_backbone_only_imagenet_rmt(model, shared_dir):
    table = read_reference_table(os.path.join(shared_dir, "reference",
                                              "segret_t_ade20k_state_dict.tsv"))
    rng = np.random.default_rng(0)
    backbone = {k[len("backbone."):]: rng.standard_normal(s).astype(np.float32)
                for k, s in table.items() if k.startswith("backbone.")}
    classifier = {"proj.weight": np.zeros((1024, 512), np.float32),
                  "norm.weight": np.ones(1024, np.float32),
                  "norm.bias": np.zeros(1024, np.float32),
                  "head.weight": np.zeros((1000, 1024), np.float32),
                  "head.bias": np.zeros(1000, np.float32)}
    before = weights(model)
    report = load_checkpoint_into(model, {"model": {**backbone, **classifier}},
                                  backbone_only=True)
    assert sorted(report.dropped_keys(REASON_IMAGENET_HEAD)) == sorted(classifier)
    assert set(report.dropped_keys()) - set(classifier) == \
        {k for k in backbone if k.endswith("num_batches_tracked")}
    assert not (report.missing or report.unexpected or report.mismatched)
    after = weights(model)
    for key, arr in backbone.items():
        if not key.endswith("num_batches_tracked"):
            assert np.array_equal(after["backbone." + key], arr), key
    assert np.array_equal(after["backbone.layers.0.downsample.norm.weight"],
                          backbone["layers.0.downsample.norm.weight"])
    for key in after:
        if key.startswith("decode_head."):
            assert np.array_equal(after[key], before[key]), key  # head untouched


def _with_19_classes(state):
    state = OrderedDict(state)
    state["decode_head.conv_seg.weight"] = np.zeros((19, 128, 1, 1), np.float16)
    state["decode_head.conv_seg.bias"] = np.zeros(19, np.float16)
    state["decode_head.linear_pred.weight"] = np.zeros((19, 256, 1, 1), np.float16)
    state["decode_head.linear_pred.bias"] = np.zeros(19, np.float16)
    return state


def test_classifier_mismatch_names_key_and_shapes(model, segret_ckpt):
    _, ref = segret_ckpt
    before = weights(model)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_into(model, {"state_dict": _with_19_classes(ref)})
    msg = str(err.value)
    assert "decode_head.linear_pred.weight" in msg
    assert "(19, 256, 1, 1)" in msg and "(150, 256, 1, 1)" in msg
    assert "skip_classifier=True" in msg
    after = weights(model)
    assert all(np.array_equal(after[k], before[k]) for k in before)  # nothing was copied


def test_skip_classifier_keeps_initialized_layers(model, segret_ckpt):
    _, ref = segret_ckpt
    before = weights(model)
    report = load_checkpoint_into(model, {"state_dict": _with_19_classes(ref)},
                                  skip_classifier=True)
    assert sorted(k for k, _ in report.skipped) == sorted(CLASSIFIER)
    assert {r for _, r in report.skipped} == {REASON_SKIP_CLASSIFIER}
    assert report.ok
    after = weights(model)
    for key in after:
        if key in CLASSIFIER:
            assert np.array_equal(after[key], before[key]), key
        else:
            assert np.array_equal(after[key], ref[key].astype(np.float32)), key


def test_wrong_family_is_named(model, shared_dir):
    path = os.path.join(shared_dir, "fixtures", "official", "segnext_t_ade20k", "checkpoint.pth")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_into(model, path)
    msg = str(err.value)
    assert path in msg and "looks like family 'segnext'" in msg and "MSCAN" in msg
    assert "'segret'" in msg
    with pytest.raises(CheckpointError, match="unknown model family 'nope'"):
        load_checkpoint_into(model, path, family="nope")


def test_strict_and_non_strict(model, segret_ckpt):
    _, ref = segret_ckpt
    state = OrderedDict(ref)
    del state["backbone.layers.1.Relpos.decay"]
    state["decode_head.extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_into(model, state)
    assert "backbone.layers.1.Relpos.decay" in str(err.value)
    assert "decode_head.extra.weight" in str(err.value)
    report = load_checkpoint_into(model, state, strict=False)
    assert report.missing == ["backbone.layers.1.Relpos.decay"]
    assert report.unexpected == ["decode_head.extra.weight"]
    assert "1 missing, 1 unexpected" in report.summary()


def test_unused_conv_seg_is_accepted():
    # A SegRet model without decode_head.conv_seg still takes a reference checkpoint.
    import jittor as jt

    class TinySegRet:
        def __init__(self):
            self.vars = OrderedDict([("backbone.layers.0.Relpos.angle", jt.zeros(4)),
                                     ("decode_head.linear_pred.weight", jt.zeros((3, 2, 1, 1)))])

        def state_dict(self):
            return self.vars

    m = TinySegRet()
    state = {"backbone.layers.0.Relpos.angle": np.arange(4, dtype=np.float32),
             "decode_head.linear_pred.weight": np.ones((3, 2, 1, 1), np.float32),
             "decode_head.conv_seg.weight": np.ones((3, 2, 1, 1), np.float32),
             "decode_head.conv_seg.bias": np.ones(3, np.float32)}
    report = load_checkpoint_into(m, state, verbose=False)
    assert report.ok and not report.unexpected
    assert sorted(report.dropped_keys()) == ["decode_head.conv_seg.bias",
                                             "decode_head.conv_seg.weight"]
    assert "does not use conv_seg" in report.dropped[0][1]
    assert np.array_equal(m.vars["backbone.layers.0.Relpos.angle"].numpy(), np.arange(4))


def test_jittor_pkl_checkpoint(model, segret_ckpt, tmp_path):
    import jittor as jt

    _, ref = segret_ckpt
    state = {k: v for k, v in ref.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "iter_100.pkl"
    save_pkl({"meta": {"iter": 100}, "state_dict": state, "optimizer": {"lr": 0.1}, "iter": 100},
             str(path))
    report = load_checkpoint_into(model, str(path))
    assert report.ok and len(report.mapped) == len(state)
    # the engine may store Vars rather than arrays: jt.save pickles them as jittor_core.Var
    key = "backbone.layers.0.Relpos.angle"
    jt.save({"state_dict": {key: jt.array(np.full(16, 2.0, np.float32))}}, str(tmp_path / "v.pkl"))
    report = load_checkpoint_into(model, str(tmp_path / "v.pkl"), strict=False)
    assert report.mapped == [(key, key)]
    assert np.array_equal(model.state_dict()[key].numpy(), np.full(16, 2.0, np.float32))
