"""SegFormerHeadWithRes: decoder_params.use_relu (published key; default True, False drops the
ReLU after each stage's projection), in the forward and in the model ``fuse_for_inference``
folds."""
import numpy as np
import pytest

from jseg_ret.models import fuse_for_inference
from jseg_ret.models.decode_heads.segret_head import SegFormerHeadWithRes
from jseg_ret.ops.fused_linear import FusedLinear, FusedMLP

import jittor as jt

IN_CHANNELS = [8, 16, 24, 32]


def make_head(**decoder_params):
    head = SegFormerHeadWithRes(
        in_channels=IN_CHANNELS, in_index=[0, 1, 2, 3], feature_strides=[4, 8, 16, 32],
        channels=16, num_classes=3, dropout_ratio=0.1, norm_cfg=dict(type="BN"),
        align_corners=False, decoder_params=dict(embed_dim=16, **decoder_params))
    # every parameter and BN statistic from one seeded draw (two heads are then identical),
    # residual branches non-zero, so the sum before the ReLU has both signs
    rng = np.random.RandomState(1)
    for name, p in head.state_dict().items():
        value = rng.uniform(0.5, 1.5, p.shape) if "running_var" in name \
            else rng.normal(0, 0.3, p.shape)
        p.assign(jt.array(value.astype(np.float32)))
    return head


def features():
    rng = np.random.RandomState(2)
    return [jt.array(rng.normal(0, 1, (1, c, 16 // 2 ** i, 24 // 2 ** i)).astype(np.float32))
            for i, c in enumerate(IN_CHANNELS)]


def test_use_relu_defaults_to_true_when_the_config_leaves_it_out():
    assert make_head().use_relu and make_head(use_relu=True).use_relu
    head = make_head(use_relu=False)
    assert not head.use_relu and not head.linear_c1.use_relu


def test_without_relu_the_stage_output_is_the_plain_sum():
    with_relu, without = make_head(), make_head(use_relu=False)
    x = features()[0].transpose(0, 2, 3, 1)  # the stage MLPs run channels-last
    without.eval()
    with_relu.eval()
    plain = without.linear_c1(x).numpy()
    assert (plain < 0).any()  # the published use_relu=False keeps negative responses
    np.testing.assert_allclose(with_relu.linear_c1(x).numpy(), np.maximum(plain, 0), atol=1e-6)


@pytest.mark.parametrize("use_relu", [True, False])
def test_fused_head_agrees_with_the_head(use_relu):
    head = make_head(use_relu=use_relu)
    head.eval()
    feats = features()
    fused_head = fuse_for_inference(head)
    with jt.no_grad():
        direct = head(feats).numpy()
        fused = fused_head(feats).numpy()
    np.testing.assert_allclose(fused, direct, rtol=1e-4, atol=1e-5)
    # each stage's proj (+ ReLU) and its share of linear_fuse: one op
    kind = FusedMLP if use_relu else FusedLinear
    assert all(type(getattr(fused_head, f"linear_c{i}")) is kind for i in range(1, 5))


def test_use_relu_changes_the_logits():
    feats = features()
    outs = []
    for use_relu in (True, False):
        head = make_head(use_relu=use_relu)
        head.eval()
        with jt.no_grad():
            outs.append(head(feats).numpy())
    assert np.abs(outs[0] - outs[1]).max() > 1e-3
