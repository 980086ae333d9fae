"""One forward per model: every config family builds, trains a step, and
``fuse_for_inference`` changes no output.

Weights, BN statistics and layer scales are randomized first: at initialization SegRet's residual
branch and the layer scales are (near) zero and BN is the identity, which would hide mistakes in
the folded algebra. The chosen execution (channels-last oneDNN kernels on the CPU, the CPU
LayerNorm kernel) is compared with the plain NCHW formulation (``fast_path(False)``) in training:
the same loss and gradients."""
import os
import re

import numpy as np
import pytest

from jseg_ret import Config, build_segmentor
from jseg_ret.engine import build_optimizer
from jseg_ret.fast_path import fast_path
from jseg_ret.models import FusedModelError, fuse_for_inference, is_fused
from tests.helpers.paths import ROOT

import jittor as jt

TOL = 1e-5
SHAPE = (1, 3, 64, 64)

# every variant of each family; B/L with shortened depths (their widths, heads and norms are
# the variant's own) to keep the file within its time budget on 2 cores
CONFIGS = [
    ("configs/segret/segret-t_512x512_ade20k.py", None),
    ("configs/segret/segret-s_512x512_ade20k.py", None),
    ("configs/segret/segret-b_512x512_ade20k.py", [1, 1, 2, 1]),
    ("configs/segret/segret-l_512x512_ade20k.py", [1, 1, 2, 1]),
    ("configs/segnext/segnext-t_512x512_ade20k.py", None),
    ("configs/segnext/segnext-s_512x512_ade20k.py", None),
    ("configs/segnext/segnext-b_512x512_ade20k.py", [1, 1, 2, 1]),
    ("configs/segnext/segnext-l_512x512_ade20k.py", [1, 1, 2, 1]),
    ("configs/frm/frm-van-b1_1024x1024_cityscapes.py", [1, 1, 2, 1]),
]


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


def load(config, depths=None):
    cfg = Config.fromfile(os.path.join(ROOT, config))
    cfg.model.pretrained = None
    if depths is not None:
        cfg.model.backbone.depths = depths
    return cfg


def build(cfg, seed=0):
    jt.set_global_seed(seed)
    model = build_segmentor(cfg.model)
    randomize(model, seed)
    return model


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def logits(model, img):
    with jt.no_grad():
        jt.set_global_seed(7)  # the Hamburger's random NMF bases: the same in both runs
        return model.encode_decode(img).numpy()


@pytest.fixture(scope="module")
def img():
    return jt.array(np.random.RandomState(1).randn(*SHAPE).astype(np.float32))


@pytest.mark.parametrize("config,depths", CONFIGS,
                         ids=[os.path.basename(c).split("_")[0] for c, _ in CONFIGS])
def test_trains_a_step_and_fusing_changes_no_output(config, depths, img):
    cfg = load(config, depths)
    model = build(cfg)
    keys = sorted(model.state_dict())
    # a training step (AdamW, as the configs), finite and moving the weights
    model.train()
    num_classes = int(model.num_classes)
    gt = jt.array(np.random.RandomState(2).randint(0, num_classes, size=SHAPE[:1] + SHAPE[2:])
                  .astype(np.int32))
    optimizer = build_optimizer(model, cfg.optimizer)
    before = model.decode_head.linear_pred.weight.numpy() if hasattr(
        model.decode_head, "linear_pred") else model.decode_head.conv_seg.weight.numpy()
    loss, _ = model.train_step(img, gt)
    optimizer.step(loss)
    assert np.isfinite(loss.item())
    after = model.decode_head.linear_pred.weight.numpy() if hasattr(
        model.decode_head, "linear_pred") else model.decode_head.conv_seg.weight.numpy()
    assert np.abs(after - before).max() > 0
    # fusing: a copy with the same outputs; the model itself untouched
    randomize(model, 1)  # the step moved BN statistics and weights: fresh random ones again
    model.eval()
    ref = logits(model, img)
    fused = fuse_for_inference(model)
    assert is_fused(fused) and not is_fused(model) and fused is not model
    assert rel(logits(fused, img), ref) <= TOL
    assert sorted(model.state_dict()) == keys
    np.testing.assert_array_equal(logits(model, img), ref)
    assert fuse_for_inference(fused) is fused  # idempotent


def test_fused_model_cannot_be_saved_loaded_or_trained(tmp_path, img):
    model = build(load("configs/segret/segret-t_512x512_ade20k.py", [1, 1, 1, 1]))
    fused = fuse_for_inference(model)
    for call in (fused.state_dict, lambda: fused.save(str(tmp_path / "m.pkl")),
                 lambda: fused.load_state_dict(model.state_dict()), fused.train):
        with pytest.raises(FusedModelError, match="fused for inference"):
            call()
    assert not (tmp_path / "m.pkl").exists()
    assert fused.named_parameters()  # introspection still works
    model.save(str(tmp_path / "ok.pkl"))  # the unfused model saves as before
    model.train()  # and trains


@pytest.mark.parametrize("config", ["configs/segnext/segnext-t_512x512_ade20k.py",
                                    "configs/frm/frm-van-b1_1024x1024_cityscapes.py"],
                         ids=["mscan", "van"])
def test_channels_last_layout_is_the_nchw_function(config, img):
    """MSCAN/VAN built channels-last (the CPU choice) and NCHW (CUDA's) from the same weights:
    the same outputs in eval and the same gradients in training."""
    cfg = load(config, [1, 1, 1, 1])
    nets = {}
    for cl in (True, False):
        cfg.model.backbone.channels_last = cl
        nets[cl] = build(cfg)
        assert nets[cl].backbone.channels_last is cl
    assert sorted(nets[True].state_dict()) == sorted(nets[False].state_dict())
    for net in nets.values():
        net.eval()
    outs = {cl: [o.numpy() for o in net.backbone(img)] for cl, net in nets.items()}
    assert max(rel(a, b) for a, b in zip(outs[True], outs[False])) <= TOL
    grads = {}
    for cl, net in nets.items():
        net.train()
        params = [p for p in net.backbone.parameters() if not p.is_stop_grad()]
        jt.set_global_seed(3)
        loss = sum((o * o).mean() for o in net.backbone(img))
        grads[cl] = [g.numpy() for g in jt.grad(loss, params)]
    for a, b in zip(grads[True], grads[False]):
        assert np.abs(a - b).max() <= 1e-4 * max(np.abs(b).max(), 1e-2)


def test_segret_training_kernels_match_the_plain_formulation(img):
    """SegRet's training forward on the CPU kernels (oneDNN NHWC convs with their backward
    primitives, the channels-last resize with its backward) and with the plain ops: the same
    loss and gradients."""
    model = build(load("configs/segret/segret-t_512x512_ade20k.py", [1, 1, 1, 1]))
    model.train()
    gt = jt.array(np.random.RandomState(2).randint(0, 150, size=(1, 64, 64)).astype(np.int32))
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


def test_no_second_forward_in_the_models():
    pattern = re.compile(r"execute_channels_last|_execute_fast|_execute_fused|def execute_\w+")
    hits = []
    for base in ("jseg_ret/models", "jseg_ret/bricks"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, base)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8") as f:
                        hits += [f"{path}:{i}" for i, line in enumerate(f, 1)
                                 if pattern.search(line)]
    assert not hits, hits
