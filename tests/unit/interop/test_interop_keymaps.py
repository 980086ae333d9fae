"""Key maps per family, without a model: detection, backbone-only drops, BN counters."""
import os

import numpy as np
import pytest

from jseg_ret.interop import FAMILIES, Family, detect_family, map_checkpoint_keys, register_family
from jseg_ret.interop.keymaps import (
    REASON_BN,
    REASON_IMAGENET_HEAD,
    add_bn_counters,
    is_classifier_key,
)
from jseg_ret.interop.reference import read_reference_table as read_tsv

RMT_CLASSIFIER = ["proj.weight", "proj.bias", "norm.weight", "norm.bias", "head.weight",
                  "head.bias"]


def tsv(shared_dir, name):
    return read_tsv(os.path.join(shared_dir, "reference", f"{name}_state_dict.tsv"))


def imagenet_state(ref, extra):
    """Backbone keys without the prefix plus classifier keys, as in an ImageNet checkpoint."""
    sd = {k[len("backbone."):]: np.zeros(s, np.float32) for k, s in ref.items()
          if k.startswith("backbone.")}
    sd.update({k: np.zeros(3, np.float32) for k in extra})
    return sd


@pytest.mark.parametrize("size", "tsbl")
def test_detect_family_on_reference_tables(shared_dir, size):
    segret = tsv(shared_dir, f"segret_{size}_ade20k")
    segnext = tsv(shared_dir, f"segnext_{size}_ade20k")
    assert detect_family(segret) == "segret"
    assert detect_family(segnext) == "segnext"
    # backbone-only (no prefix) checkpoints are recognized too
    assert detect_family(imagenet_state(segret, [])) == "segret"
    assert detect_family(imagenet_state(segnext, ["head.weight"])) == "segnext"


def test_detect_van_and_unknown():
    van = ["patch_embed1.proj.weight", "block1.0.attn.spatial_gating_unit.conv0.weight",
           "block1.0.attn.spatial_gating_unit.conv_spatial.weight", "norm1.weight"]
    assert detect_family(van) == "frm"
    assert detect_family(["backbone." + k for k in van] + ["decode_head.x.weight"]) == "frm"
    assert detect_family(["conv1.weight", "fc.weight"]) is None


def test_rmt_backbone_only_drops_exactly_the_classifier(shared_dir):
    ref = tsv(shared_dir, "segret_t_ade20k")
    state = imagenet_state(ref, RMT_CLASSIFIER)
    mapped, dropped = map_checkpoint_keys(state, "segret", backbone_only=True)
    assert sorted(k for k, r in dropped if r == REASON_IMAGENET_HEAD) == sorted(RMT_CLASSIFIER)
    assert all(k.endswith("num_batches_tracked") for k, r in dropped if r == REASON_BN)
    expected = {k for k in ref if k.startswith("backbone.")
                and not k.endswith("num_batches_tracked")}
    assert set(mapped) == expected
    assert "backbone.layers.0.downsample.norm.weight" in mapped  # nested 'norm.' is kept


def test_mscan_backbone_only_keeps_stage_norms(shared_dir):
    ref = tsv(shared_dir, "segnext_t_ade20k")
    state = imagenet_state(ref, ["head.weight", "head.bias"])
    mapped, dropped = map_checkpoint_keys(state, "segnext", backbone_only=True)
    assert sorted(k for k, r in dropped if r == REASON_IMAGENET_HEAD) == ["head.bias",
                                                                          "head.weight"]
    assert {f"backbone.norm{i}.weight" for i in range(1, 5)} <= set(mapped)


def test_full_map_is_identity_minus_bn_counters(shared_dir):
    ref = tsv(shared_dir, "segret_t_ade20k")
    state = {k: np.zeros(s, np.float32) for k, s in ref.items()}
    mapped, dropped = map_checkpoint_keys(state, "segret")
    assert all(target == src for target, (src, _) in mapped.items())
    assert {k for k, _ in dropped} == {k for k in ref if k.endswith(".num_batches_tracked")}
    assert all(r == REASON_BN for _, r in dropped)


@pytest.mark.parametrize("name", ["segret_t_ade20k", "segnext_t_ade20k", "segret_l_ade20k"])
def test_bn_counters_restore_reference_layout(shared_dir, name):
    ref = tsv(shared_dir, name)
    jittor_layout = {k: np.zeros(s, np.float32) for k, s in ref.items()
                     if not k.endswith("num_batches_tracked")}
    out = add_bn_counters(jittor_layout)
    assert list(out) == list(ref)  # same keys, same order
    counter = out[next(k for k in out if k.endswith("num_batches_tracked"))]
    assert counter.dtype == np.int64 and counter.shape == ()


def test_classifier_keys_and_registration():
    assert is_classifier_key(FAMILIES["segret"], "decode_head.linear_pred.weight")
    assert is_classifier_key(FAMILIES["segnext"], "decode_head.conv_seg.bias")
    assert not is_classifier_key(FAMILIES["segnext"], "decode_head.squeeze.conv.weight")
    fam = register_family(Family(name="test_family", backbone="Toy",
                                 signature=(r"^toy_stem\.",)))
    try:
        assert detect_family(["toy_stem.weight"]) == "test_family"
        assert fam.classifier[0] == "decode_head.conv_seg."
    finally:
        FAMILIES.pop("test_family")
