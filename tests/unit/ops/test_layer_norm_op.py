"""The CPU LayerNorm kernel (ops/layer_norm.py) against PyTorch, and when it is used."""
import numpy as np
import pytest

from jseg_ret.ops.layer_norm import applies, layer_norm, layer_norm_last
from jseg_ret.utils import fast_path

import jittor as jt
from jittor import nn

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("c", [1, 7, 64, 515])
def test_matches_torch(c):
    rng = np.random.RandomState(c)
    x = (rng.randn(2, 3, 5, c) * 3 + 1).astype(np.float32)
    w, b = rng.rand(c).astype(np.float32), rng.randn(c).astype(np.float32)
    ref = torch.nn.functional.layer_norm(torch.tensor(x), (c,), torch.tensor(w),
                                         torch.tensor(b), 1e-6).numpy()
    y = layer_norm_last(jt.array(x), jt.array(w), jt.array(b), 1e-6).numpy()
    np.testing.assert_allclose(y, ref, rtol=0, atol=2e-5 if c == 1 else 2e-6)


def test_used_only_without_gradients():
    norm = nn.LayerNorm(8, eps=1e-6)
    x = jt.array(np.random.RandomState(0).randn(4, 8).astype(np.float32))
    assert not applies(x, norm.weight)          # training: the weight needs a gradient
    with jt.no_grad():
        assert applies(x, norm.weight)
        with fast_path(False):
            assert not applies(x, norm.weight)
    # with gradients, layer_norm() is the module itself: gradients reach the weight
    g = jt.grad((layer_norm(norm, x) ** 2).sum(), norm.weight)
    assert np.abs(g.numpy()).max() > 0
    with jt.no_grad():
        np.testing.assert_allclose(layer_norm(norm, x).numpy(), norm(x).numpy(), atol=2e-6)
