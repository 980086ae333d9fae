"""Retention read straight from the q|k and v products (ops/retention_qkv.py): the strided CPU
kernel route against the transpose route and the naive formula, and when it is used."""
import numpy as np
import pytest

from jseg_ret.fast_path import fast_path  # noqa: E402
from jseg_ret.ops.retention_qkv import _split, applies, retention_qkv  # first: Jittor
from jseg_ret.ops.retention_qkv import strided_retention as _strided  # noqa: E402

import jittor as jt  # noqa: E402


def _inputs(b, h, w, n, d, seed=0):
    rng = np.random.RandomState(seed)
    qk = jt.array(rng.randn(b, h, w, 2 * n * d).astype(np.float32))
    v = jt.array(rng.randn(b, h, w, n * d).astype(np.float32))
    decay = jt.array(np.log(1 - 2.0 ** (-2 - np.arange(n))).astype(np.float32))
    return qk, v, decay


@pytest.mark.parametrize("decomposed", [False, True])
@pytest.mark.parametrize("b,h,w,n,d", [(2, 5, 7, 2, 3), (1, 9, 4, 4, 8), (1, 3, 70, 1, 5)])
def test_strided_matches_split_and_naive(b, h, w, n, d, decomposed):
    # odd grids; w = 70 > one 64-token block of the kernel
    qk, v, decay = _inputs(b, h, w, n, d, seed=h * w)
    with jt.no_grad():
        s = _strided(qk, v, decay, n, decomposed).numpy()
        ref = _split(qk, v, decay, n, decomposed, "auto").numpy()
        naive = _split(qk, v, decay, n, decomposed, "naive").numpy()
    assert s.shape == (b, h, w, n * d)
    np.testing.assert_array_equal(s, ref)  # same kernel arithmetic, only the addressing moved
    np.testing.assert_allclose(s, naive, rtol=1e-5, atol=2e-6)


def test_non_contiguous_inputs():
    qk, v, decay = _inputs(1, 6, 5, 2, 4, seed=3)
    qk_view = qk.permute(0, 2, 1, 3).permute(0, 2, 1, 3)[:, ::2]  # (1, 3, 5, 16) strided
    v_view = v.permute(0, 2, 1, 3).permute(0, 2, 1, 3)[:, ::2]
    with jt.no_grad():
        np.testing.assert_array_equal(_strided(qk_view, v_view, decay, 2, True).numpy(),
                                      _split(qk_view, v_view, decay, 2, True, "auto").numpy())


def test_used_only_without_gradients():
    qk, v, decay = _inputs(1, 4, 4, 2, 4)
    assert not applies(qk, v)                     # they need a gradient: the transpose route
    assert not applies(qk, v.stop_grad())         # one of them is enough
    assert not applies(qk.clone().stop_grad(), v.clone().stop_grad(), "naive")  # asked for
    with jt.no_grad():
        assert applies(qk, v)
        with fast_path(False):
            assert not applies(qk, v)
    qk2, v2, _ = _inputs(1, 4, 4, 2, 4)
    gq, gv = jt.grad((retention_qkv(qk2, v2, decay, 2, True) ** 2).sum(), [qk2, v2])
    assert np.abs(gq.numpy()).max() > 0 and np.abs(gv.numpy()).max() > 0
    with pytest.raises(ValueError, match="heads"):
        retention_qkv(jt.zeros((1, 2, 2, 6)), jt.zeros((1, 2, 2, 3)), decay, 2, False)
    with pytest.raises(ValueError, match="one size"):
        retention_qkv(jt.zeros((1, 2, 2, 8)), jt.zeros((1, 2, 3, 4)), decay, 2, False)


@pytest.mark.parametrize("decomposed", [False, True])
def test_added_map_joins_the_output(decomposed):
    # RMT's lepe(v): the kernel adds it as it writes; the transpose route adds it after
    qk, v, decay = _inputs(1, 5, 70, 2, 4, seed=5)
    add = jt.array(np.random.RandomState(6).randn(1, 5, 70, 8).astype(np.float32))
    with jt.no_grad():
        got = retention_qkv(qk, v, decay, 2, decomposed, add=add).numpy()
        plain = _strided(qk, v, decay, 2, decomposed).numpy()
        split = _split(qk, v, decay, 2, decomposed, "auto").numpy()
    np.testing.assert_allclose(got, plain + add.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, split + add.numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="add"):
        retention_qkv(qk, v, decay, 2, decomposed, add=add[:, :2])
