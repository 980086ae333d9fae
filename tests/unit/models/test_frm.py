"""FRM (MODELS.md §3): polyphase pooling, DNL, the FRM neck, mmseg-named FPN + semantic-FPN head,
the pixel-contrastive loss, the configs, and a few training steps of a small FRM model.

Shapes are shared between tests where possible so Jittor compiles each kernel once."""
import glob
import os
import time

import numpy as np
import pytest

from jseg_ret import Config, build_segmentor
from jseg_ret.models.losses.pixel_contrast import (
    PixelContrastLoss,
    nearest_labels,
    pixel_contrast,
    sample_anchors,
)
from jseg_ret.models.necks.frm import FRM, DisentangledNonLocal, PolyphasePool2d, pool_to
from jseg_ret.registry import HEADS, NECKS
from tests.helpers.models import trainable_count
from tests.helpers.paths import ROOT

import jittor as jt

CFG_DIR = os.path.join(ROOT, "configs", "frm")
MAIN = os.path.join(CFG_DIR, "frm-van-b1_1024x1024_cityscapes.py")
# trainable parameters of this implementation (19 classes); the FRM itself is 1,053,185 of them
PARAMS = {
    "frm-van-b1_1024x1024_cityscapes.py": 18_684_756,
    "frm-van-b2_1024x1024_cityscapes.py": 31_401_428,
    "frm-van-b1_512x1024_bdd100k.py": 18_684_756,
    "frm-van-b2_512x1024_bdd100k.py": 31_401_428,
    "frm-van-b1_1024x1024_cityscapes_no-frm.py": 17_631_571,
    "frm-van-b1_1024x1024_cityscapes_avg-pool.py": 18_684_756,
    "frm-van-b1_1024x1024_cityscapes_nl.py": 18_684_627,  # no unary conv (129)
    "frm-van-b1_1024x1024_cityscapes_no-contrast.py": 18_651_732,  # no projection head
}


def features(seed=0, n=2, channels=(8, 16, 24, 32), size=32):
    """Random F1..F4 at strides 4..32 of a size·4 image."""
    rng = np.random.RandomState(seed)
    return [jt.array(rng.randn(n, c, size >> i, size >> i).astype(np.float32))
            for i, c in enumerate(channels)]


# ---------------------------------------------------------------- polyphase pooling
def test_aps_keeps_the_max_norm_component_per_sample():
    rng = np.random.RandomState(0)
    x = rng.randn(4, 3, 16, 16).astype(np.float32)
    phases = [(0, 0), (0, 1), (1, 0), (1, 1)]
    winner = [2, 0, 3, 1]  # sample n: component winner[n] is made the largest
    for n, k in enumerate(winner):
        i, j = phases[k]
        x[n, :, i::2, j::2] *= 3.0
    pool = PolyphasePool2d("aps")
    assert pool.choose(pool.components(jt.array(x))).numpy().tolist() == winner
    out = pool(jt.array(x)).numpy()
    for n, k in enumerate(winner):
        i, j = phases[k]
        np.testing.assert_array_equal(out[n], x[n, :, i::2, j::2])
    # 'avg' is 2×2 average pooling
    avg = PolyphasePool2d("avg")(jt.array(x)).numpy()
    np.testing.assert_allclose(avg, x.reshape(4, 3, 8, 2, 8, 2).mean((3, 5)), atol=1e-6)


def test_aps_is_shift_equivariant_under_circular_shifts():
    """What is tested: with x' = roll(x, 1) along H or W (even sizes, circular),
    one APS step: the component with phase 0 along the shift axis becomes phase 1 of x'
    unchanged, the phase-1 component becomes phase 0 of x' rolled by one coarse pixel; norms do
    not change, so the same component wins and  APS(x') = APS(x) if x chose phase 0 along that
    axis, roll(APS(x), 1) if it chose phase 1 — exactly. After three steps (stride 8),
    APS³(x') = roll(APS³(x), s) with s ∈ {0, 1} per sample. Fixed strided subsampling
    x[..., ::2, ::2] satisfies neither (its output of x' is the other phase)."""
    rng = np.random.RandomState(1)
    x = rng.randn(4, 3, 16, 16).astype(np.float32)
    pool = PolyphasePool2d("aps")
    y = pool(jt.array(x)).numpy()
    chosen = pool.choose(pool.components(jt.array(x))).numpy()
    for axis, phase_of in ((3, lambda k: k % 2), (2, lambda k: k // 2)):
        y_shift = pool(jt.array(np.roll(x, 1, axis=axis))).numpy()
        for n in range(len(x)):
            expected = np.roll(y[n], phase_of(chosen[n]), axis=axis - 1)
            np.testing.assert_array_equal(y_shift[n], expected)
        # fixed subsampling is not equivariant: neither 0 nor 1 coarse-pixel shift matches
        fixed, fixed_shift = x[..., ::2, ::2], np.roll(x, 1, axis=axis)[..., ::2, ::2]
        assert not any(np.allclose(fixed_shift, np.roll(fixed, s, axis=axis)) for s in (0, 1))

    def aps3(a):
        return pool_to(jt.array(a), (2, 2), pool).numpy()

    z = aps3(x)
    for axis in (2, 3):
        z_shift = aps3(np.roll(x, 1, axis=axis))
        for n in range(len(x)):
            assert any(np.array_equal(z_shift[n], np.roll(z[n], s, axis=axis - 1))
                       for s in (0, 1)), (axis, n)


def test_pooling_odd_sizes_reach_the_last_stage_size():
    # VAN on a 97×131 image: stages 25×33, 13×17, 7×9, 4×5 (ceil halvings)
    pool = PolyphasePool2d("aps")
    x = jt.randn(1, 2, 25, 33)
    assert tuple(pool_to(x, (4, 5), pool).shape) == (1, 2, 4, 5)
    with pytest.raises(ValueError, match="does not halve"):
        pool_to(x, (3, 5), pool)


# ---------------------------------------------------------------- DNL
def test_dnl_whitening_invariance_of_the_attention_maps():
    jt.set_global_seed(0)
    rng = np.random.RandomState(2)
    dnl = DisentangledNonLocal(16, temperature=0.5)
    nl = DisentangledNonLocal(16, temperature=0.5, whiten=False, unary=False)
    q = jt.array(rng.randn(2, 8, 64).astype(np.float32))
    k = jt.array(rng.randn(2, 8, 64).astype(np.float32))
    c = jt.array(3.0 * rng.randn(1, 8, 1).astype(np.float32))  # one vector, every position
    base = dnl.pairwise(q, k).numpy()
    np.testing.assert_allclose(base.sum(2), 1.0, atol=1e-5)
    # keys + c: whitening removes c exactly
    np.testing.assert_allclose(dnl.pairwise(q, k + c).numpy(), base, atol=1e-6)
    # queries + c: whitened DNL unchanged; plain non-local changes (c·k_j varies with j)
    np.testing.assert_allclose(dnl.pairwise(q + c, k).numpy(), base, atol=1e-6)
    nl_base = nl.pairwise(q, k).numpy()
    assert np.abs(nl.pairwise(q + c, k).numpy() - nl_base).max() > 1e-2
    # the unary term is a softmax over positions of m(k): a constant shift of k cancels too
    np.testing.assert_allclose(dnl.unary(k + c, (8, 8)).numpy(), dnl.unary(k, (8, 8)).numpy(),
                               atol=1e-6)
    # at the module's input: x + constant vector leaves DNL's pairwise map unchanged
    x = jt.array(rng.randn(2, 16, 8, 8).astype(np.float32))
    shift = jt.array(rng.randn(1, 16, 1, 1).astype(np.float32))
    np.testing.assert_allclose(dnl.attention(x + shift)[0].numpy(), dnl.attention(x)[0].numpy(),
                               atol=1e-5)


def test_dnl_matches_formula():
    jt.set_global_seed(3)
    dnl = DisentangledNonLocal(16, temperature=0.5)
    for m in (dnl.query, dnl.key, dnl.value, dnl.conv_mask, dnl.conv_out):  # visible weights
        m.weight.assign(jt.randn(*m.weight.shape) * 0.3)
    x = np.random.RandomState(4).randn(2, 16, 8, 8).astype(np.float64)
    got = dnl(jt.array(x.astype(np.float32))).numpy()

    def conv(m, a):  # 1×1 conv on (N, C, L)
        w = m.weight.numpy()[:, :, 0, 0].astype(np.float64)
        return np.einsum("oc,ncl->nol", w, a) + m.bias.numpy()[None, :, None]

    def softmax(a):
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    xl = x.reshape(2, 16, 64)
    q, k, v = conv(dnl.query, xl), conv(dnl.key, xl), conv(dnl.value, xl)
    qw, kw = q - q.mean(2, keepdims=True), k - k.mean(2, keepdims=True)
    pair = softmax(np.einsum("ncl,ncm->nlm", qw, kw) / (np.sqrt(8) * 0.5))
    unary = softmax(conv(dnl.conv_mask, k))  # (N, 1, L)
    y = np.einsum("nlm,ncm->ncl", pair, v) + np.einsum("nom,ncm->nc", unary, v)[:, :, None]
    want = conv(dnl.conv_out, y).reshape(2, 16, 8, 8)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- FRM neck
def test_frm_shapes_identity_at_init_and_finite_gradients():
    jt.set_global_seed(5)
    feats = features()
    frm = FRM([8, 16, 24, 32], channels=16, norm_cfg=dict(type="BN"), zero_init=True)
    frm.train()
    outs = frm(feats)
    assert [tuple(o.shape) for o in outs] == [tuple(f.shape) for f in feats]
    for o, f in zip(outs, feats):  # F1..F3 untouched; F4' = F4 while proj's norm is zero
        np.testing.assert_allclose(o.numpy(), f.numpy(), atol=1e-6)

    for attention, pooling in (("dnl", "aps"), ("nl", "avg")):
        frm = FRM([8, 16, 24, 32], channels=16, norm_cfg=dict(type="BN"), zero_init=False,
                  attention=attention, pooling=pooling)
        frm.train()
        outs = frm(feats)
        assert tuple(outs[-1].shape) == (2, 32, 4, 4)
        weights = jt.array(np.random.RandomState(6).randn(2, 32, 4, 4).astype(np.float32))
        loss = (outs[-1] * weights).sum()
        params = [p for p in frm.parameters() if not p.is_stop_grad()]
        grads = jt.grad(loss, params)
        for g in grads:
            g = g.numpy()
            assert np.isfinite(g).all()
        assert all(np.abs(g.numpy()).sum() > 0 for g in grads), "a parameter got no gradient"
        # the input features get gradients through pooling (F1..F3) and the residual (F4)
        for g in jt.grad(loss, feats):
            assert np.isfinite(g.numpy()).all() and np.abs(g.numpy()).sum() > 0

    off = FRM([8, 16, 24, 32], use_frm=False)
    assert trainable_count(off) == 0 and off(feats)[-1] is feats[-1]


# ---------------------------------------------------------------- FPN + semantic-FPN head names
def test_fpn_and_head_follow_mmseg_names():
    cfg = Config.fromfile(os.path.join(CFG_DIR, "frm-van-b1_1024x1024_cityscapes_no-frm.py"))
    cfg.model.backbone.update(arch="b0", embed_dims=[32, 64, 160, 256], depths=[3, 3, 5, 2])
    cfg.model.neck.in_channels = [32, 64, 160, 256]
    cfg.model.decode_head.loss_contrast.loss_weight = 0.0  # plain semantic FPN
    sd = build_segmentor(cfg.model).state_dict()
    got = {k: tuple(v.shape) for k, v in sd.items() if not k.startswith("backbone.")}
    want = {}
    for i, c in enumerate([32, 64, 160, 256]):  # mmseg's FPN (no norm: convs with bias)
        want[f"neck.lateral_convs.{i}.conv.weight"] = (256, c, 1, 1)
        want[f"neck.lateral_convs.{i}.conv.bias"] = (256,)
        want[f"neck.fpn_convs.{i}.conv.weight"] = (256, 256, 3, 3)
        want[f"neck.fpn_convs.{i}.conv.bias"] = (256,)
    # mmseg's FPNHead: ConvModules at even Sequential indices, Upsample between them
    for i, idx in enumerate([[0], [0], [0, 2], [0, 2, 4]]):
        for j, k in enumerate(idx):
            p = f"decode_head.scale_heads.{i}.{k}"
            want[f"{p}.conv.weight"] = (128, 256 if j == 0 else 128, 3, 3)
            for name in ("weight", "bias", "running_mean", "running_var"):
                want[f"{p}.bn.{name}"] = (128,)
    want["decode_head.conv_seg.weight"] = (19, 128, 1, 1)
    want["decode_head.conv_seg.bias"] = (19,)
    assert got == want, (sorted(set(got) ^ set(want)))


def test_fpn_top_down_and_head_fusion():
    jt.set_global_seed(7)
    feats = features()
    fpn = NECKS.build(dict(type="FPN", in_channels=[8, 16, 24, 32], out_channels=8, num_outs=5))
    outs = fpn(feats)
    assert [tuple(o.shape[2:]) for o in outs] == [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    lat = [conv(f) for conv, f in zip(fpn.lateral_convs, feats)]
    top = lat[3].numpy()
    for i in (2, 1, 0):  # nearest 2× upsampling = repeat each pixel
        top = lat[i].numpy() + np.repeat(np.repeat(top, 2, 2), 2, 3)
    np.testing.assert_allclose(outs[0].numpy(), fpn.fpn_convs[0](jt.array(top)).numpy(),
                               atol=1e-4)
    np.testing.assert_allclose(outs[4].numpy(), outs[3].numpy()[:, :, ::2, ::2])

    head = HEADS.build(dict(type="FPNHead", in_channels=[8] * 4, in_index=[0, 1, 2, 3],
                            feature_strides=[4, 8, 16, 32], channels=8, num_classes=3,
                            norm_cfg=dict(type="BN")))
    head.eval()
    assert tuple(head(outs[:4]).shape) == (2, 3, 32, 32)


# ---------------------------------------------------------------- pixel-contrastive loss
def block_labels(n=2, size=16, classes=3, ignore_rows=4, seed=0):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, classes, size=(n, size // 4, size // 4)).repeat(4, 1).repeat(4, 2)
    labels[:, :ignore_rows] = 255
    return labels.astype(np.int32)


def test_contrast_no_gradient_on_ignored_pixels():
    np.random.seed(0)
    emb = jt.array(np.random.RandomState(8).randn(2, 8, 16, 16).astype(np.float32))
    loss_fn = PixelContrastLoss(max_samples=64, max_views=16)
    for scale in (1, 4):  # labels at the embedding size, and 4× larger (nearest downsampling)
        labels = block_labels(size=16 * scale, ignore_rows=4 * scale)
        loss = loss_fn(emb, jt.array(labels))
        assert 0 < loss_fn.last_num_anchors <= 48  # 3 classes × 16 views
        g = np.abs(jt.grad(loss, emb).numpy()).sum(1)  # (N, h, w)
        ignored = nearest_labels(labels, (16, 16)) == 255
        assert ignored.any() and (g[ignored] == 0).all()
        assert (g[~ignored] > 0).sum() >= loss_fn.last_num_anchors - 2


def test_contrast_lower_for_separated_embeddings_and_matches_formula():
    rng = np.random.RandomState(9)
    labels = block_labels(seed=1)
    centres = np.eye(8, dtype=np.float32)[:3] * 5.0
    sep = centres[np.where(labels == 255, 0, labels)].transpose(0, 3, 1, 2)
    sep = sep + 0.3 * rng.randn(*sep.shape).astype(np.float32)
    mixed = rng.randn(*sep.shape).astype(np.float32)
    loss_fn = PixelContrastLoss(max_samples=64, max_views=16, loss_weight=1.0)
    np.random.seed(1)
    l_sep = loss_fn(jt.array(sep), labels).item()
    np.random.seed(1)
    l_mix = loss_fn(jt.array(mixed), labels).item()
    assert l_sep < 0.5 * l_mix, (l_sep, l_mix)

    # the pixel-contrast formula, directly
    z = rng.randn(10, 4)
    cls = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
    got = pixel_contrast(jt.array(z.astype(np.float32)), cls, temperature=0.5).item()
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    s = zn @ zn.T / 0.5
    per = []
    for i in range(10):
        neg = np.exp(s[i][cls != cls[i]]).sum()
        pos = [j for j in range(10) if j != i and cls[j] == cls[i]]
        per.append(-np.mean([s[i, p] - np.log(np.exp(s[i, p]) + neg) for p in pos]))
    np.testing.assert_allclose(got, np.mean(per), rtol=1e-5)


def test_contrast_cost_is_bounded_on_a_1024_label_map():
    rng = np.random.RandomState(10)
    labels = rng.randint(0, 19, size=(2, 32, 32)).repeat(32, 1).repeat(32, 2)
    labels[:, :100] = 255
    t = time.perf_counter()
    idx, cls = sample_anchors(labels, 255, max_samples=1024, max_views=100)
    elapsed = time.perf_counter() - t
    assert len(idx) <= 1024 and np.bincount(cls).max() <= 100
    assert len(np.unique(cls)) == 19 and len(idx) == 19 * 53  # n_view = 1024 // 19
    assert (labels.reshape(-1)[idx] == cls).all() and 255 not in cls
    assert len(np.unique(idx)) == len(idx)
    assert elapsed < 5.0, elapsed  # loose: a few dozen ms when the machine is idle
    idx, cls = sample_anchors(labels, 255, max_samples=200, max_views=100)
    assert len(idx) == 19 * 10
    # through the loss: 1024×1024 labels against stride-4 embeddings
    loss_fn = PixelContrastLoss(max_samples=256, max_views=100)
    emb = jt.array(rng.randn(2, 8, 256, 256).astype(np.float32))
    assert np.isfinite(loss_fn(emb, labels).item())
    assert loss_fn.last_num_anchors == 19 * (256 // 19)


def test_contrast_head_outputs_and_inference_skips_projection():
    feats = features(channels=(8, 8, 8, 8))
    cfg = dict(type="ContrastFPNHead", in_channels=[8] * 4, in_index=[0, 1, 2, 3],
               feature_strides=[4, 8, 16, 32], channels=8, num_classes=3,
               norm_cfg=dict(type="BN"), proj_channels=4,
               loss_contrast=dict(type="PixelContrastLoss", loss_weight=0.1, max_samples=64,
                                  max_views=16))
    head = HEADS.build(cfg)
    head.train()
    labels = jt.array(block_labels(size=128, ignore_rows=16))
    losses = head.forward_train(feats, labels)
    assert set(losses) == {"loss_ce", "loss_contrast", "acc_seg"}
    assert tuple(head.proj_head.proj[2].weight.shape) == (4, 8, 1, 1)

    def boom(*args):
        raise AssertionError("projection head ran at inference")

    head.proj_head.execute = boom
    head.eval()
    assert tuple(head.forward_test(feats).shape) == (2, 3, 32, 32)
    cfg["loss_contrast"] = dict(type="PixelContrastLoss", loss_weight=0.0)
    plain = HEADS.build(cfg)
    assert not hasattr(plain, "proj_head")
    assert set(plain.forward_train(feats, labels)) == {"loss_ce", "acc_seg"}


# ---------------------------------------------------------------- configs
@pytest.mark.parametrize("name", sorted(PARAMS))
def test_configs_build_with_expected_parameter_counts(name):
    cfg = Config.fromfile(os.path.join(CFG_DIR, name))
    assert cfg.model.decode_head.num_classes == 19
    model = build_segmentor(cfg.model)
    assert trainable_count(model) == PARAMS[name]
    refine = model.neck.refine
    if "no-frm" in name:
        assert refine is None
    else:
        assert refine.pool.mode == ("avg" if "avg-pool" in name else "aps")
        assert (refine.attn.conv_mask is None) == ("_nl" in name)
    assert hasattr(model.decode_head, "proj_head") == ("no-contrast" not in name)


def test_every_frm_config_is_listed():
    assert {os.path.basename(p) for p in glob.glob(os.path.join(CFG_DIR, "*.py"))} == set(PARAMS)


# ---------------------------------------------------------------- training
def test_small_frm_model_learns():
    """A reduced VAN + FRM + FPN + contrastive head overfits one synthetic batch: the label of a
    pixel is which of 3 smooth random colour fields is largest there."""
    jt.set_global_seed(11)
    np.random.seed(11)
    cfg = Config.fromfile(MAIN)
    bn = dict(type="BN", requires_grad=True)
    dims = [8, 16, 24, 32]
    cfg.model.backbone.update(arch="b0", embed_dims=dims, depths=[1, 1, 1, 1],
                              mlp_ratios=[2, 2, 2, 2], drop_path_rate=0.0, norm_cfg=bn)
    cfg.model.neck.update(in_channels=dims, out_channels=16, norm_cfg=None)
    cfg.model.neck.refine.update(in_channels=dims, channels=16, norm_cfg=bn)
    cfg.model.decode_head.update(in_channels=[16] * 4, channels=16, num_classes=3, norm_cfg=bn,
                                 dropout_ratio=0.0, proj_channels=8)
    cfg.model.decode_head.loss_contrast.update(max_samples=64, max_views=16)
    model = build_segmentor(cfg.model)
    model.train()
    rng = np.random.RandomState(12)
    coarse = rng.randn(2, 3, 4, 4).astype(np.float32)
    img = np.repeat(np.repeat(coarse, 16, 2), 16, 3) + 0.1 * rng.randn(2, 3, 64, 64)
    img = jt.array(img.astype(np.float32))
    gt = jt.array(np.argmax(img.numpy(), axis=1)[:, None].astype(np.int32))
    opt = jt.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    history = []
    for _ in range(8):
        loss, log_vars = model.train_step(img, gt)
        opt.step(loss)
        history.append(loss.item())
    assert {"decode.loss_ce", "decode.loss_contrast", "decode.acc_seg"} <= set(log_vars)
    assert np.isfinite(history).all()
    assert np.mean(history[-2:]) < 0.9 * history[0], history  # measured: 1.58 -> 1.26
