"""The CPU cross-entropy kernel (ops/cross_entropy.py) against the formula (fast paths off):
loss values and logit gradients with class weights, ignored pixels and both averaging rules, and
a visible NaN (not a memory read) for a label outside [0, C)."""
import numpy as np
import pytest

from jseg_ret.fast_path import fast_path
from jseg_ret.models.losses import cross_entropy
from jseg_ret.ops import cross_entropy as ce_kernel

import jittor as jt


def _loss_and_grad(pred, label, **kw):
    x = jt.array(pred)
    loss = cross_entropy(x, jt.array(label), **kw)
    return float(loss.numpy().item()), jt.grad(loss, x).numpy()


@pytest.mark.parametrize("class_weight", [None, [0.5, 1.0, 2.0, 1.5, 0.25]])
@pytest.mark.parametrize("avg_non_ignore", [False, True])
@pytest.mark.parametrize("shape", [(2, 5, 7, 9), (1, 5, 33, 40)])  # 1320 pixels: > one block
def test_kernel_matches_the_formula(shape, class_weight, avg_non_ignore):
    rng = np.random.RandomState(0)
    pred = (rng.randn(*shape) * 4).astype(np.float32)
    label = rng.randint(0, shape[1], size=(shape[0], *shape[2:])).astype(np.int32)
    label[0, :2] = 255
    kw = dict(class_weight=class_weight, avg_non_ignore=avg_non_ignore)
    assert ce_kernel.applies(jt.array(pred))
    loss, grad = _loss_and_grad(pred, label, **kw)
    with fast_path(False):
        assert not ce_kernel.applies(jt.array(pred))
        ref_loss, ref_grad = _loss_and_grad(pred, label, **kw)
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6 * np.abs(ref_grad).max())
    assert np.all(grad[0, :, :2] == 0)  # ignored pixels: no gradient


def test_label_outside_the_classes_gives_nan():
    pred = np.zeros((1, 3, 2, 2), np.float32)
    label = np.zeros((1, 2, 2), np.int32)
    label[0, 1, 1] = 7
    assert np.isnan(_loss_and_grad(pred, label)[0])
