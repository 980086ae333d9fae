"""VAN (FRM's backbone) on the shared conv-attention machinery: parameter counts against the VAN
paper (which counts the 1000-class ImageNet classifier), checkpoint names, stage shapes, and LKA
against a direct depthwise convolution."""
import numpy as np
import pytest

from jseg_ret.models.backbones.conv_attention import LargeKernelAttention
from jseg_ret.registry import BACKBONES
from tests.helpers.models import trainable_count

import jittor as jt
from jittor import nn

# VAN paper, Table (ImageNet-1K): parameters in millions, classifier included
PAPER_PARAMS_M = {"b0": 4.1, "b1": 13.9, "b2": 26.6, "b3": 44.8}
# exact counts of this implementation: backbone only (4 stages and their norms)
BACKBONE_PARAMS = {"b0": 3_848_800, "b1": 13_348_800, "b2": 26_065_472, "b3": 44_252_608}


@pytest.mark.parametrize("arch", ["b0", "b1", "b2", "b3"])
def test_parameter_counts_match_paper_with_imagenet_head(arch):
    van = BACKBONES.build(dict(type="VAN", arch=arch))
    backbone = trainable_count(van)
    head = nn.Linear(van.embed_dims[-1], 1000)  # attached for counting only, as the paper counts
    total = backbone + trainable_count(head)
    print(f"VAN-{arch.upper()}: backbone {backbone:,} parameters, with 1000-class head {total:,}")
    assert backbone == BACKBONE_PARAMS[arch]
    assert abs(total / 1e6 - PAPER_PARAMS_M[arch]) <= 0.01 * PAPER_PARAMS_M[arch], total


def test_names_and_shapes_follow_van_checkpoints():
    sd = BACKBONES.build(dict(type="VAN", arch="b0")).state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["patch_embed1.proj.weight"] == (32, 3, 7, 7)  # 7×7 stride-4 stem
    assert shapes["patch_embed2.proj.weight"] == (64, 32, 3, 3)
    assert shapes["patch_embed1.norm.running_var"] == (32,)
    assert shapes["block1.0.attn.spatial_gating_unit.conv0.weight"] == (32, 1, 5, 5)
    assert shapes["block1.0.attn.spatial_gating_unit.conv_spatial.weight"] == (32, 1, 7, 7)
    assert shapes["block1.0.attn.spatial_gating_unit.conv1.weight"] == (32, 32, 1, 1)
    assert shapes["block1.0.mlp.dwconv.dwconv.weight"] == (256, 1, 3, 3)
    assert shapes["block4.1.layer_scale_2"] == (256,)
    assert shapes["norm4.weight"] == (256,)
    assert not any(k.startswith("head.") for k in sd)
    assert not any("conv0_1" in k for k in sd)  # MSCA's strip convs belong to MSCAN only


def test_stage_outputs_on_odd_input():
    jt.set_global_seed(0)
    van = BACKBONES.build(dict(type="VAN", arch="b0"))
    van.eval()
    with jt.no_grad():
        outs = van(jt.randn(1, 3, 97, 131))
    # conv7×7 s4 p3: 97 -> 25; then 3×3 s2 p1 per stage
    assert [tuple(o.shape) for o in outs] == [(1, 32, 25, 33), (1, 64, 13, 17),
                                              (1, 160, 7, 9), (1, 256, 4, 5)]
    for o in outs:  # LayerNorm over channels: zero mean per position (weight 1, bias 0)
        np.testing.assert_allclose(o.numpy().mean(1), 0.0, atol=1e-4)


def test_lka_matches_direct_formula():
    jt.set_global_seed(1)
    m = LargeKernelAttention(3)
    u = np.random.RandomState(2).randn(2, 3, 11, 26).astype(np.float32)
    got = m(jt.array(u)).numpy()

    def dw(x, conv, pad, dil):
        w = conv.weight.numpy()[:, 0].astype(np.float64)
        k = w.shape[1]
        h, wd = x.shape[2:]
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        out = sum(xp[:, :, p * dil:p * dil + h, q * dil:q * dil + wd] * w[None, :, p, q, None, None]
                  for p in range(k) for q in range(k))
        return out + conv.bias.numpy()[None, :, None, None]

    u64 = u.astype(np.float64)
    a = dw(dw(u64, m.conv0, 2, 1), m.conv_spatial, 9, 3)
    w1 = m.conv1.weight.numpy()[:, :, 0, 0].astype(np.float64)
    want = (np.einsum("oc,nchw->nohw", w1, a) + m.conv1.bias.numpy()[None, :, None, None]) * u64
    rel = np.abs(got - want).max() / np.abs(want).max()
    assert rel <= 1e-5, rel


def test_unknown_arch_names_the_choices():
    with pytest.raises(KeyError, match="b0"):
        BACKBONES.build(dict(type="VAN", arch="b9"))
