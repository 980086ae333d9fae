"""SegRet: exact parameter names/shapes/counts, odd input sizes, gradients, zero-init residual,
and the two retention forms against a direct per-token evaluation of MODELS.md's formulas."""
import glob
import os

import numpy as np
import pytest

from jseg_ret.models import fuse_for_inference
from jseg_ret.models.backbones.rmt import DWConv2d, VisionRetention
from tests.helpers.models import assert_state_dict_matches, read_reference, trainable_count
from tests.helpers.models import build_from_config as build
from tests.helpers.paths import ROOT

import jittor as jt

EXPECTED_PARAMS = {"t": 13_494_348, "s": 26_003_212, "b": 56_330_068, "l": 95_814_500}


ADE_CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs/segret/segret-*_ade20k.py")))


def test_every_variant_has_an_ade_config():
    names = {os.path.basename(p) for p in ADE_CONFIGS}
    assert {f"segret-{v}_512x512_ade20k.py" for v in "tsbl"} <= names
    assert "segret-l_640x640_ade20k.py" in names


@pytest.mark.parametrize("path", ADE_CONFIGS, ids=os.path.basename)
def test_state_dict_and_parameter_count_match_reference(path, shared_dir):
    variant = os.path.basename(path).split("_")[0].split("-")[1]
    model = build(path)
    ref = read_reference(shared_dir, "segret", variant)
    assert_state_dict_matches(model, ref)
    sd = model.state_dict()
    assert trainable_count(model) == EXPECTED_PARAMS[variant]
    # buffers are stop_grad so the optimizer never trains them
    for name in sd:
        if "Relpos" in name or "running_" in name:
            assert sd[name].is_stop_grad(), name


@pytest.fixture(scope="module")
def segret_t():
    jt.set_global_seed(0)
    return build(os.path.join(ROOT, "configs/segret/segret-t_512x512_ade20k.py"),
                 retention_impl="naive")


def test_forward_odd_size_gives_input_sized_logits(segret_t):
    segret_t.eval()
    x = jt.randn(1, 3, 97, 131)
    with jt.no_grad():
        out = segret_t.encode_decode(x)
    assert tuple(out.shape) == (1, 150, 97, 131)
    assert np.isfinite(out.numpy()).all()


def test_train_backward_reaches_every_used_parameter(segret_t):
    segret_t.train()
    x = jt.randn(2, 3, 97, 131)
    gt = jt.array(np.random.randint(0, 150, size=(2, 97, 131)).astype(np.int32))
    gt[0, :10, :10] = 255  # ignored pixels
    loss, log_vars = segret_t.train_step(x, gt)
    assert set(log_vars) == {"decode.loss_ce", "decode.acc_seg", "loss"}
    params = {n: p for n, p in segret_t.named_parameters() if not p.is_stop_grad()}
    # conv_seg is part of the published checkpoints but unused by this decoder
    used = {n: p for n, p in params.items() if not n.startswith("decode_head.conv_seg")}
    grads = jt.grad(loss, list(used.values()))
    zero = []
    for (name, _), g in zip(used.items(), grads):
        g = g.numpy()
        assert np.isfinite(g).all(), name
        if not np.any(g):
            zero.append(name)
    # At init the zero branch's conv outputs exactly 0, so the BN after it normalizes a constant
    # (x_hat = 0) and its scale gets exactly zero gradient; the conv itself does get one, so
    # the branch starts learning. Every other used parameter receives a signal.
    expected_zero = {f"decode_head.linear_c{i}.zeroLayer.bn.weight" for i in range(1, 5)}
    assert set(zero) == expected_zero, sorted(set(zero) ^ expected_zero)[:10]


def test_residual_branch_is_zero_at_init(segret_t):
    head = segret_t.decode_head
    for mode in ("train", "eval"):
        getattr(head, mode)()
        for i, c in enumerate(head.in_channels):
            mlp = getattr(head, f"linear_c{i + 1}")
            x = jt.randn(2, 5, 7, c) * 3  # the head runs channels-last
            assert np.abs(mlp.zeroLayer(x).numpy()).max() == 0.0
    head.train()


def direct_retention(x, module, decay, decomposed):
    """Per-head, per-token evaluation of MODELS.md's formulas in float64 numpy."""
    b, h, w, c = x.shape
    n, d = module.num_heads, module.key_dim
    def lin(layer, t):
        return t @ layer.weight.numpy().T.astype(np.float64) + layer.bias.numpy()
    q = lin(module.q_proj, x).reshape(b, h, w, n, d)
    k = (lin(module.k_proj, x) * d ** -0.5).reshape(b, h, w, n, d)
    v_flat = lin(module.v_proj, x)
    v = v_flat.reshape(b, h, w, n, d)
    lam = decay.astype(np.float64)
    out = np.zeros((b, h, w, n, d))

    def attend(qi, ks, vs, dists, lam_n):
        logits = np.array([qi @ kj for kj in ks]) + lam_n * np.array(dists)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return sum(pj * vj for pj, vj in zip(p, vs))

    for bi in range(b):
        for hn in range(n):
            if decomposed:
                mid = np.zeros((h, w, d))
                for i in range(h):
                    for j in range(w):
                        mid[i, j] = attend(q[bi, i, j, hn], k[bi, i, :, hn], v[bi, i, :, hn],
                                           [abs(j - jj) for jj in range(w)], lam[hn])
                for i in range(h):
                    for j in range(w):
                        out[bi, i, j, hn] = attend(q[bi, i, j, hn], k[bi, :, j, hn], mid[:, j],
                                                   [abs(i - ii) for ii in range(h)], lam[hn])
            else:
                ks = k[bi, :, :, hn].reshape(-1, d)
                vs = v[bi, :, :, hn].reshape(-1, d)
                for i in range(h):
                    for j in range(w):
                        dists = [abs(i - ii) + abs(j - jj) for ii in range(h) for jj in range(w)]
                        out[bi, i, j, hn] = attend(q[bi, i, j, hn], ks, vs, dists, lam[hn])
    # lepe: depthwise 5x5 conv on v, then out_proj
    wl = module.lepe.conv.weight.numpy()[:, 0].astype(np.float64)
    vp = np.pad(v_flat, ((0, 0), (2, 2), (2, 2), (0, 0)))
    lepe = np.zeros_like(v_flat)
    for di in range(5):
        for dj in range(5):
            lepe += vp[:, di:di + h, dj:dj + w, :] * wl[:, di, dj]
    lepe += module.lepe.conv.bias.numpy()
    return lin(module.out_proj, out.reshape(b, h, w, c) + lepe)


@pytest.mark.parametrize("decomposed", [False, True], ids=["whole", "decomposed"])
def test_retention_forms_match_direct_formula(decomposed):
    jt.set_global_seed(1)
    module = VisionRetention(embed_dim=16, num_heads=2, retention_impl="naive")
    decay = np.log(1 - 2.0 ** (-2 - 4 * np.arange(2) / 2)).astype(np.float32)
    x = np.random.RandomState(3).randn(2, 3, 4, 16).astype(np.float32)
    got = module(jt.array(x), jt.array(decay), decomposed).numpy()
    want = direct_retention(x.astype(np.float64), module, decay, decomposed)
    rel = np.linalg.norm(got - want) / np.linalg.norm(want)
    assert rel <= 1e-5, rel


def test_decay_rates_follow_formula(segret_t):
    layer = segret_t.backbone.layers[2]  # RMT-T stage 3: 8 heads, init 2, range 6
    n = np.arange(8)
    expected = np.log(1 - 2.0 ** (-2 - 6 * n / 8))
    np.testing.assert_allclose(layer.Relpos.decay.numpy(), expected, rtol=1e-5)  # float32
    assert [layer.decomposed for layer in segret_t.backbone.layers] == [True, True, False, False]


def test_position_encoding_identity_folds_into_the_centre_tap():
    jt.set_global_seed(2)
    pos = DWConv2d(8, 3, 1, residual=True)
    x = jt.randn(2, 5, 6, 8)
    with jt.no_grad():
        ref = (x + pos.conv(x)).numpy()
        np.testing.assert_allclose(pos(x).numpy(), ref, rtol=1e-6, atol=1e-6)
        pos.fold_for_inference()
        pos.fold_for_inference()  # idempotent
        assert not pos.residual
        np.testing.assert_allclose(pos(x).numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("decomposed", [False, True], ids=["whole", "decomposed"])
def test_fused_retention_moves_lepe_bias_into_out_proj(decomposed):
    jt.set_global_seed(4)
    module = VisionRetention(embed_dim=16, num_heads=2)
    module.lepe.conv.bias.assign(jt.randn(16))
    decay = jt.array(np.log(1 - 2.0 ** (-2 - 4 * np.arange(2) / 2)).astype(np.float32))
    x = jt.randn(1, 4, 6, 16)
    with jt.no_grad():
        ref = module(x, decay, decomposed).numpy()
        module.fold_for_inference()
        assert module.lepe.conv.bias is None and module.qk is not None
        np.testing.assert_allclose(module(x, decay, decomposed).numpy(), ref, rtol=1e-5,
                                   atol=1e-5)


def test_fused_segret_hands_channels_last_maps_to_its_head(segret_t):
    segret_t.eval()
    fused = fuse_for_inference(segret_t)
    assert fused.backbone.out_channels_last and fused.decode_head.in_channels_last
    assert not segret_t.backbone.out_channels_last  # the original keeps mmseg's NCHW contract
    x = jt.randn(1, 3, 64, 96)
    with jt.no_grad():
        plain = [f.numpy() for f in segret_t.extract_feat(x)]
        nhwc = [f.numpy() for f in fused.extract_feat(x)]
        logits = fused.decode_head(fused.extract_feat(x))
    for a, b in zip(plain, nhwc):
        assert b.shape == (a.shape[0], a.shape[2], a.shape[3], a.shape[1])
        np.testing.assert_allclose(b.transpose(0, 3, 1, 2), a, rtol=1e-4, atol=1e-4)
    assert tuple(logits.shape) == (1, 150, 16, 24)  # the head's output stays NCHW
