import numpy as np
import pytest

from jseg_ret.models.losses import CrossEntropyLoss, accuracy

import jittor as jt


def numpy_ce(logits, label, weight=None, ignore=255, avg_non_ignore=False):
    n, c, h, w = logits.shape
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    valid = label != ignore
    safe = np.where(valid, label, 0)
    nll = -np.take_along_axis(logp, safe[:, None], 1)[:, 0]
    if weight is not None:
        nll = nll * np.asarray(weight)[safe]
    nll = nll * valid
    return nll.sum() / max(valid.sum(), 1) if avg_non_ignore else nll.mean()


@pytest.mark.parametrize("weight,avg", [(None, False), (None, True), ([1.0, 2.0, 0.5, 3.0], False)])
def test_cross_entropy_matches_reference(weight, avg):
    rng = np.random.RandomState(0)
    logits = rng.randn(2, 4, 5, 6).astype(np.float32) * 5
    label = rng.randint(0, 4, size=(2, 5, 6))
    label[0, :2] = 255
    loss = CrossEntropyLoss(class_weight=weight, loss_weight=2.0, avg_non_ignore=avg)
    got = loss(jt.array(logits), jt.array(label)).item()
    assert got == pytest.approx(2.0 * numpy_ce(logits, label, weight, avg_non_ignore=avg),
                                rel=1e-5)


def test_cross_entropy_shape_error():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        CrossEntropyLoss()(jt.zeros((2, 4, 5, 6)), jt.zeros((2, 5, 7)).int32())


def test_accuracy_ignores_ignored_pixels():
    logits = np.zeros((1, 3, 2, 2), np.float32)
    logits[0, 1] = 1  # predicts class 1 everywhere
    label = np.array([[[1, 1], [0, 255]]])
    assert accuracy(jt.array(logits), jt.array(label)).item() == pytest.approx(200 / 3)
