"""SegNeXt (MSCAN + LightHamHead): exact parameter names/shapes/counts from the configs, odd input
sizes and gradients, NMF2D against a direct evaluation of its update rules, injectable bases,
MSCA against a direct depthwise convolution, and loading an ImageNet MSCAN checkpoint."""
import glob
import os

import numpy as np
import pytest

from jseg_ret import Config, build_segmentor
from jseg_ret.models.backbones.conv_attention import MultiScaleConvAttention
from jseg_ret.models.decode_heads.ham_head import NMF2D
from tests.helpers.models import (
    JITTOR_ABSENT_SUFFIX,
    assert_state_dict_matches,
    read_reference,
    trainable_count,
)
from tests.helpers.models import build_from_config as build
from tests.helpers.paths import ROOT

import jittor as jt

CONFIG_DIR = os.path.join(ROOT, "configs", "segnext")
EXPECTED_PARAMS = {"t": 4_263_414, "s": 13_932_886, "b": 27_636_310, "l": 48_926_550}
DATASETS = {  # config tag -> (classes, iterations, test mode)
    "512x512_ade20k": (150, 160000, "whole"),
    "1024x1024_cityscapes": (19, 160000, "slide"),
    "512x512_coco-stuff164k": (171, 80000, "whole"),
    "512x512_voc12aug": (21, 80000, "whole"),
    "480x480_pascal-context-59": (59, 80000, "slide"),
    "896x896_isaid": (16, 160000, "whole"),
}


def config_path(variant, tag):
    return os.path.join(CONFIG_DIR, f"segnext-{variant}_{tag}.py")


def test_every_variant_has_every_dataset_config():
    names = {os.path.basename(p) for p in glob.glob(os.path.join(CONFIG_DIR, "*.py"))}
    expected = {f"segnext-{v}_{tag}.py" for v in "tsbl" for tag in DATASETS}
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize("variant", "tsbl")
def test_state_dict_and_parameter_count_match_reference(variant, shared_dir):
    model = build(config_path(variant, "512x512_ade20k"))
    ref = read_reference(shared_dir, "segnext", variant)
    assert_state_dict_matches(model, ref)
    sd = model.state_dict()
    assert trainable_count(model) == EXPECTED_PARAMS[variant]
    # BN running statistics are buffers: the optimizer must never train them
    for name in sd:
        if "running_" in name:
            assert sd[name].is_stop_grad(), name


@pytest.mark.parametrize("tag", sorted(DATASETS))
@pytest.mark.parametrize("variant", "tsbl")
def test_dataset_configs_set_classes_schedule_and_test_mode(variant, tag):
    classes, iters, mode = DATASETS[tag]
    cfg = Config.fromfile(config_path(variant, tag))
    head = cfg.model.decode_head
    assert head.num_classes == classes
    assert cfg.runner.max_iters == iters
    assert cfg.model.test_cfg["mode"] == mode
    assert cfg.optimizer.type == "AdamW" and cfg.optimizer.lr == 6e-5
    assert cfg.lr_config.warmup == "linear" and cfg.lr_config.warmup_iters == 1500
    assert head.ham_kwargs["MD_R"] == (16 if variant in "ts" else 64)
    assert head.channels == head.ham_channels == {"t": 256, "s": 256, "b": 512, "l": 1024}[variant]
    if variant == "t":  # building is cheap for T: the class count reaches the classifier
        model = build_segmentor(cfg.model)
        assert tuple(model.decode_head.conv_seg.weight.shape) == (classes, 256, 1, 1)


@pytest.fixture(scope="module")
def segnext_t():
    jt.set_global_seed(0)
    # no stochastic depth, so that every block's parameters get a gradient in one step
    return build(config_path("t", "512x512_ade20k"), drop_path_rate=0.0)


def test_forward_odd_size_gives_input_sized_logits(segnext_t):
    segnext_t.eval()
    x = jt.randn(1, 3, 97, 131)
    with jt.no_grad():
        feats = segnext_t.backbone(x)
        out = segnext_t.encode_decode(x)
    # stem: two stride-2 convs (97 -> 49 -> 25), then one per stage
    assert [tuple(f.shape) for f in feats] == [(1, 32, 25, 33), (1, 64, 13, 17),
                                               (1, 160, 7, 9), (1, 256, 4, 5)]
    assert tuple(out.shape) == (1, 150, 97, 131)
    assert np.isfinite(out.numpy()).all()


def test_train_backward_reaches_every_parameter(segnext_t):
    segnext_t.train()
    x = jt.randn(2, 3, 97, 131)
    gt = jt.array(np.random.RandomState(0).randint(0, 150, size=(2, 97, 131)).astype(np.int32))
    gt[0, :10, :10] = 255  # ignored pixels
    loss, log_vars = segnext_t.train_step(x, gt)
    assert set(log_vars) == {"decode.loss_ce", "decode.acc_seg", "loss"}
    params = {n: p for n, p in segnext_t.named_parameters() if not p.is_stop_grad()}
    grads = jt.grad(loss, list(params.values()))
    zero = []
    for (name, _), g in zip(params.items(), grads):
        g = g.numpy()
        assert np.isfinite(g).all(), name
        if not np.any(g):
            zero.append(name)
    assert not zero, zero[:10]


# ---------------------------------------------------------------- NMF2D


def nmf_direct(x, bases, steps):
    """MODELS.md's NMF2D in float64 numpy: x (B·S, D, N), bases (B·S, D, R)."""
    def t(a):
        return a.transpose(0, 2, 1)

    def update_coef(bases, coef):
        return coef * (t(x) @ bases) / (coef @ (t(bases) @ bases) + 1e-6)

    logits = t(x) @ bases
    coef = np.exp(logits - logits.max(-1, keepdims=True))
    coef /= coef.sum(-1, keepdims=True)
    for _ in range(steps):
        coef = update_coef(bases, coef)
        bases = bases * (x @ coef) / (bases @ (t(coef) @ coef) + 1e-6)
    coef = update_coef(bases, coef)
    return bases @ t(coef)


def random_bases(rng, shape):
    b = rng.rand(*shape)
    return (b / np.linalg.norm(b, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("groups", [1, 2])
def test_nmf2d_matches_update_rules_with_train_and_eval_steps(groups):
    rng = np.random.RandomState(1)
    b, c, h, w, r = 2, 8, 5, 7, 4
    x = np.maximum(rng.randn(b, c, h, w), 0).astype(np.float32)  # NMF runs after a ReLU
    bases = random_bases(rng, (b * groups, c // groups, r))
    nmf = NMF2D(dict(MD_S=groups, MD_R=r, TRAIN_STEPS=6, EVAL_STEPS=7))
    nmf.set_initial_bases(bases)
    xs = x.reshape(b * groups, c // groups, h * w).astype(np.float64)
    for mode, steps in (("train", 6), ("eval", 7)):
        getattr(nmf, mode)()
        got = nmf(jt.array(x)).numpy()
        want = nmf_direct(xs, bases.astype(np.float64), steps).reshape(b, c, h, w)
        rel = np.abs(got - want).max() / np.abs(want).max()
        assert rel <= 1e-5, (mode, rel)
    # one more update in eval: the two modes really differ
    nmf.train()
    train_out = nmf(jt.array(x)).numpy()
    nmf.eval()
    assert not np.allclose(train_out, nmf(jt.array(x)).numpy())


def test_nmf2d_bases_are_random_unless_injected():
    rng = np.random.RandomState(2)
    x = jt.array(np.maximum(rng.randn(1, 8, 4, 6), 0).astype(np.float32))
    nmf = NMF2D(dict(MD_R=4))
    nmf.eval()
    a, b = nmf(x).numpy(), nmf(x).numpy()
    assert not np.allclose(a, b)  # fresh bases at every forward, in eval too
    bases = random_bases(rng, (1, 8, 4))
    nmf.set_initial_bases(bases)
    c, d = nmf(x).numpy(), nmf(x).numpy()
    np.testing.assert_array_equal(c, d)
    nmf.set_initial_bases(None)
    assert not np.allclose(nmf(x).numpy(), c)
    # (S, D, R) bases are shared by every sample of a batch
    nmf.set_initial_bases(bases)
    x2 = jt.concat([x, x], dim=0)
    out2 = nmf(x2).numpy()
    np.testing.assert_allclose(out2[0], c[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out2[1], c[0], rtol=1e-6, atol=1e-7)


def test_nmf2d_rejects_wrong_bases_and_unknown_options():
    nmf = NMF2D(dict(MD_R=4))
    nmf.set_initial_bases(np.ones((3, 8, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(1, 8, 4\)"):
        nmf(jt.ones((1, 8, 2, 2)))
    with pytest.raises(ValueError, match="R = 4"):
        nmf.set_initial_bases(np.ones((1, 8, 5), np.float32))
    with pytest.raises(KeyError, match="MD_RR"):
        NMF2D(dict(MD_RR=4))
    with pytest.raises(ValueError, match="RAND_INIT"):
        NMF2D(dict(rand_init=False))
    # both spellings of the published configs are understood; inv_t stays 1 for NMF
    nmf = NMF2D(dict(MD_S=1, MD_R=16, train_steps=5, eval_steps=9, inv_t=100, rand_init=True))
    assert (nmf.R, nmf.train_steps, nmf.eval_steps, nmf.inv_t) == (16, 5, 9, 1)


def test_head_set_initial_bases_makes_eval_deterministic(segnext_t):
    head = segnext_t.decode_head
    segnext_t.eval()
    x = jt.randn(1, 3, 64, 96)
    with jt.no_grad():
        feats = segnext_t.backbone(x)
        head.set_initial_bases(None)
        r1, r2 = head(feats).numpy(), head(feats).numpy()
        d = head.hamburger.ham.initial_bases(1, 256).numpy()  # a random draw, (1, 256, 16)
        np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-5)
        head.set_initial_bases(d)
        f1, f2 = head(feats).numpy(), head(feats).numpy()
    head.set_initial_bases(None)
    assert not np.allclose(r1, r2)
    np.testing.assert_array_equal(f1, f2)


# ---------------------------------------------------------------- MSCA


def dwconv_direct(x, conv, padding, dilation=(1, 1)):
    """Depthwise convolution, float64 numpy, by shifted sums."""
    w = conv.weight.numpy()[:, 0].astype(np.float64)
    kh, kw = w.shape[1:]
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    out = np.zeros_like(x)
    for p in range(kh):
        for q in range(kw):
            dp, dq = p * dilation[0], q * dilation[1]
            out += xp[:, :, dp:dp + h, dq:dq + wd] * w[None, :, p, q, None, None]
    return out + conv.bias.numpy()[None, :, None, None]


def pwconv_direct(x, conv):
    w = conv.weight.numpy()[:, :, 0, 0].astype(np.float64)
    return np.einsum("oc,nchw->nohw", w, x) + conv.bias.numpy()[None, :, None, None]


def test_msca_matches_direct_formula():
    jt.set_global_seed(3)
    m = MultiScaleConvAttention(4)
    u = np.random.RandomState(4).randn(2, 4, 9, 23).astype(np.float32)
    got = m(jt.array(u)).numpy()
    u64 = u.astype(np.float64)
    a = dwconv_direct(u64, m.conv0, (2, 2))
    branches = [dwconv_direct(dwconv_direct(a, c1, (0, k // 2)), c2, (k // 2, 0))
                for c1, c2, k in ((m.conv0_1, m.conv0_2, 7), (m.conv1_1, m.conv1_2, 11),
                                  (m.conv2_1, m.conv2_2, 21))]
    want = pwconv_direct(a + sum(branches), m.conv3) * u64
    rel = np.abs(got - want).max() / np.abs(want).max()
    assert rel <= 1e-5, rel


def test_layer_scale_starts_at_1e_2(segnext_t):
    segnext_t.train()  # eval() marks every var stop_grad
    blk = segnext_t.backbone.block1[0]
    np.testing.assert_allclose(blk.layer_scale_1.numpy(), 1e-2)
    np.testing.assert_allclose(blk.layer_scale_2.numpy(), 1e-2)
    assert not blk.layer_scale_1.is_stop_grad()


# ---------------------------------------------------------------- ImageNet backbone


def test_imagenet_mscan_checkpoint_loads_and_drops_head():
    interop = pytest.importorskip("jseg_ret.interop")
    jt.set_global_seed(5)
    source = build(config_path("t", "512x512_ade20k"))
    rng = np.random.RandomState(6)
    state = {}
    for key, var in source.backbone.state_dict().items():
        state[key] = (var.numpy() + rng.randn(*var.shape).astype(np.float32) * 0.01)
        if key.endswith("running_var"):
            state[key] = np.abs(state[key]) + 0.5
            state[key.replace("running_var", "num_batches_tracked")] = np.array(7, np.int64)
    state["head.weight"] = rng.randn(1000, 256).astype(np.float32)
    state["head.bias"] = rng.randn(1000).astype(np.float32)

    target = build(config_path("t", "512x512_ade20k"))
    report = interop.load_checkpoint_into(target, {"state_dict": state}, backbone_only=True,
                                          verbose=False)
    assert report.ok, report.summary()
    assert report.family == "segnext"
    dropped = set(report.dropped_keys())
    assert {"head.weight", "head.bias"} <= dropped
    assert all(k.startswith("head.") or k.endswith(JITTOR_ABSENT_SUFFIX) for k in dropped)
    loaded = target.backbone.state_dict()
    for key, value in loaded.items():
        np.testing.assert_array_equal(value.numpy(), state[key], err_msg=key)
