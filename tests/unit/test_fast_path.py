"""The CPU execution fast paths compute the same function as the direct translation.

Weights, BN statistics and layer scales are randomized first: at initialization SegRet's residual
branch and the layer scales are (near) zero and BN is the identity, which would hide mistakes in
the folded algebra. Covered: the channels-last MSCAN (SegNeXt) and VAN (FRM) backbones, SegRet's
fused q/k/v projection, channels-last convs and folded decoder, and the fall-back to the direct
path where the fast path does not apply (training, a norm that is not BatchNorm)."""
import os

import numpy as np
import pytest

from jseg_ret import Config, build_segmentor  # first: prepares Jittor
import jittor as jt  # noqa: E402
from jseg_ret.models.backbones.conv_attention import ConvAttentionNet  # noqa: E402
from jseg_ret.utils import fast_path  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = 1e-5

pytestmark = pytest.mark.skipif(jt.compile_extern.mkl_ops is None,
                                reason="the CPU fast paths need Jittor's oneDNN ops")


def randomize(model, seed=0):
    rng = np.random.RandomState(seed)
    for name, p in model.named_parameters():
        scale = 0.3 if ("layer_scale" in name or "gamma" in name) else 0.05
        p.assign(jt.array((rng.randn(*p.shape) * scale).astype(np.float32)))
    for m in model.modules():
        if hasattr(m, "running_var"):
            m.running_mean.assign(jt.array(rng.randn(*m.running_mean.shape).astype(np.float32)
                                           * 0.1))
            m.running_var.assign(jt.array(rng.rand(*m.running_var.shape).astype(np.float32)
                                          + 0.5))
            m.weight.assign(jt.array(rng.rand(*m.weight.shape).astype(np.float32) + 0.5))


def build(config, **backbone):
    cfg = Config.fromfile(os.path.join(ROOT, config))
    cfg.model.pretrained = None
    cfg.model.backbone.update(backbone)
    jt.set_global_seed(0)
    model = build_segmentor(cfg.model)
    randomize(model)
    model.eval()
    return model


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def compare(model, img, what):
    with jt.no_grad():
        with fast_path(False):
            ref = [o.numpy() for o in what(model, img)]
        fast = [o.numpy() for o in what(model, img)]
    return [rel(a, b) for a, b in zip(fast, ref)]


def backbone_outputs(model, img):
    return model.backbone(img)


def logits(model, img):
    return [model.encode_decode(img)]


@pytest.fixture(scope="module")
def img():
    return jt.array(np.random.RandomState(1).randn(1, 3, 64, 96).astype(np.float32))


@pytest.mark.parametrize("config,backbone", [
    ("configs/segnext/segnext-t_512x512_ade20k.py", dict(depths=[1, 1, 2, 1])),
    ("configs/frm/frm-van-b1_1024x1024_cityscapes.py", dict(depths=[1, 1, 1, 1])),
], ids=["mscan", "van"])
def test_channels_last_conv_attention_nets(config, backbone, img, monkeypatch):
    model = build(config, **backbone)
    calls = []
    original = ConvAttentionNet.execute_channels_last
    monkeypatch.setattr(ConvAttentionNet, "execute_channels_last",
                        lambda self, x: calls.append(1) or original(self, x))
    errors = compare(model, img, backbone_outputs)
    assert calls == [1]  # the fast run took the channels-last path, the reference did not
    assert max(errors) <= TOL, errors


def test_conv_attention_falls_back_in_training_and_for_other_norms(img, monkeypatch):
    model = build("configs/segnext/segnext-t_512x512_ade20k.py", depths=[1, 1, 1, 1])
    monkeypatch.setattr(ConvAttentionNet, "execute_channels_last",
                        lambda self, x: pytest.fail("channels-last path taken"))
    model.backbone.train()
    model.backbone(img)
    gn = build("configs/segnext/segnext-t_512x512_ade20k.py", depths=[1, 1, 1, 1],
               norm_cfg=dict(type="GN", num_groups=8, requires_grad=True))
    with jt.no_grad():
        gn.backbone(img)


def test_segret_fast_path_matches_reference(img):
    model = build("configs/segret/segret-t_512x512_ade20k.py", depths=[1, 1, 2, 1])
    errors = compare(model, img, backbone_outputs)
    assert max(errors) <= TOL, errors
    # the decoder's folded algebra (proj + zeroLayer + BN, per-stage fuse, channels-last
    # upsampling) with non-zero residual branches, and the final resize
    errors = compare(model, img, logits)
    assert max(errors) <= TOL, errors


def test_segret_train_gradients_match_reference(img):
    """Training takes the fused q/k/v projection and oneDNN channels-last convs with their
    backward primitives: the same loss and gradients as the direct path."""
    model = build("configs/segret/segret-t_512x512_ade20k.py", depths=[1, 1, 1, 1])
    model.train()
    gt = jt.array(np.random.RandomState(2).randint(0, 150, size=(1, 64, 96)).astype(np.int32))
    params = [p for n, p in model.named_parameters()
              if not p.is_stop_grad() and not n.startswith("decode_head.conv_seg")]

    def loss_and_grads():
        jt.set_global_seed(3)  # the same dropout / drop-path masks in both runs
        loss, _ = model.train_step(img, gt)
        return loss.item(), [g.numpy() for g in jt.grad(loss, params)]

    with fast_path(False):
        loss_ref, g_ref = loss_and_grads()
    loss_fast, g_fast = loss_and_grads()
    assert loss_fast == pytest.approx(loss_ref, rel=1e-5)
    for p, a, b in zip(params, g_fast, g_ref):
        # a bias right before a train-mode BN has a mathematically zero gradient (rounding
        # noise): compare on the scale of the largest gradient entry, at least 1e-2
        assert np.abs(a - b).max() <= 1e-4 * max(np.abs(b).max(), 1e-2), p.name()
