"""Retention read straight from the q|k|v product (ops/retention_qkv.py): the strided CPU
kernel route against the transpose route and the naive formula, and when it is used."""
import numpy as np
import pytest

from jseg_ret.fast_path import fast_path  # noqa: E402
from jseg_ret.ops.retention_qkv import _split, applies, retention_qkv  # first: Jittor
from jseg_ret.ops.retention_qkv import strided_retention as _strided  # noqa: E402

import jittor as jt  # noqa: E402


def _inputs(b, h, w, n, d, seed=0):
    rng = np.random.RandomState(seed)
    qkv = jt.array(rng.randn(b, h, w, 3 * n * d).astype(np.float32))
    decay = jt.array(np.log(1 - 2.0 ** (-2 - np.arange(n))).astype(np.float32))
    return qkv, decay


@pytest.mark.parametrize("decomposed", [False, True])
@pytest.mark.parametrize("b,h,w,n,d", [(2, 5, 7, 2, 3), (1, 9, 4, 4, 8), (1, 3, 70, 1, 5)])
def test_strided_matches_split_and_naive(b, h, w, n, d, decomposed):
    # odd grids; w = 70 > one 64-token block of the kernel
    qkv, decay = _inputs(b, h, w, n, d, seed=h * w)
    with jt.no_grad():
        s = _strided(qkv, decay, n, decomposed).numpy()
        ref = _split(qkv, decay, n, decomposed, "auto").numpy()
        naive = _split(qkv, decay, n, decomposed, "naive").numpy()
    assert s.shape == (b, h, w, n * d)
    np.testing.assert_array_equal(s, ref)  # same kernel arithmetic, only the addressing moved
    np.testing.assert_allclose(s, naive, rtol=1e-5, atol=2e-6)


def test_non_contiguous_qkv():
    qkv, decay = _inputs(1, 6, 5, 2, 4, seed=3)
    view = qkv.permute(0, 2, 1, 3).permute(0, 2, 1, 3)[:, ::2]  # (1, 3, 5, 24) strided
    with jt.no_grad():
        np.testing.assert_array_equal(_strided(view, decay, 2, True).numpy(),
                                      _split(view, decay, 2, True, "auto").numpy())


def test_used_only_without_gradients():
    qkv, decay = _inputs(1, 4, 4, 2, 4)
    assert not applies(qkv)                       # qkv needs a gradient: the transpose route
    assert not applies(qkv.clone().stop_grad(), "naive")  # the formula asked for
    with jt.no_grad():
        assert applies(qkv)
        with fast_path(False):
            assert not applies(qkv)
    g = jt.grad((retention_qkv(qkv, decay, 2, True) ** 2).sum(), qkv)
    assert np.abs(g.numpy()).max() > 0
    with pytest.raises(ValueError, match="heads"):
        retention_qkv(jt.zeros((1, 2, 2, 9)), decay, 2, False)
