"""A fixed-shape loop compiles no new kernels after warm-up: inference and a training step of a
small SegRet-T-shaped model (the SegRet-T config with narrower/shallower stages: the same op types,
decomposed and whole retention, fused kernel, residual decoder), on both the fast and the
reference path. The compile counter itself is shown to count (a new dtype chain)."""
import os

import numpy as np
import pytest

from jseg_ret import Config, build_segmentor
from jseg_ret.utils import CompileCounter, fast_path
from tests.helpers.paths import ROOT

import jittor as jt

CONFIG = os.path.join(ROOT, "configs", "segret", "segret-t_512x512_ade20k.py")
H, W = 64, 64


@pytest.fixture(scope="module")
def setup():
    cfg = Config.fromfile(CONFIG)
    dims = [16, 32, 48, 64]
    cfg.model.backbone.update(embed_dims=dims, depths=[1, 1, 2, 1], num_heads=[2, 2, 2, 4])
    cfg.model.decode_head.update(in_channels=dims, decoder_params=dict(embed_dim=32),
                                 channels=32, num_classes=150)
    jt.set_global_seed(0)
    model = build_segmentor(cfg.model)
    rng = np.random.RandomState(0)
    img = jt.array(rng.randn(1, 3, H, W).astype(np.float32))
    gt = jt.array(rng.randint(0, 150, size=(1, H, W)).astype(np.int32))
    jt.sync_all()
    return cfg, model, img, gt


def infer(model, img):
    model.eval()
    with jt.no_grad():
        return model.encode_decode(img).numpy()


def test_counter_counts_new_kernels():
    x = jt.array(np.arange(12, dtype=np.float32).reshape(3, 4))
    jt.sync_all()
    with CompileCounter(echo=False) as first:
        # a kernel signature this process has not run yet: an op chain on a fresh dtype mix
        y = (x.float64() * 3.5 - 1.25).exp().sum(1)
        y.sync()
    with CompileCounter(echo=False) as again:
        (x.float64() * 3.5 - 1.25).exp().sum(1).sync()
    assert first.count >= 1, first.keys
    assert again.count == 0, again.keys


@pytest.mark.parametrize("fast", [True, False], ids=["fast_path", "reference_path"])
def test_inference_loop_does_not_recompile(setup, fast):
    _, model, img, _ = setup
    with fast_path(fast):
        ref = infer(model, img)
        infer(model, img)  # warm-up: the first calls also materialize the parameters
        with CompileCounter() as cc:
            for _ in range(2):
                out = infer(model, img)
        assert cc.count == 0, cc.keys[:5]
        np.testing.assert_array_equal(out, ref)  # same kernels, same numbers


def test_train_step_loop_does_not_recompile(setup):
    from jseg_ret.engine import build_optimizer

    cfg, model, img, gt = setup
    model.train()
    optimizer = build_optimizer(model, cfg.optimizer)

    def step():
        loss, _ = model.train_step(img, gt)
        optimizer.step(loss)
        jt.sync_all()
        return loss.item()

    for _ in range(2):
        step()
    with CompileCounter() as cc:
        losses = [step() for _ in range(2)]
    assert cc.count == 0, cc.keys[:5]
    assert all(np.isfinite(losses))
