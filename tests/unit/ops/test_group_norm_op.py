"""The CPU GroupNorm (+ ReLU) kernel (ops/group_norm.py) against Jittor's GroupNorm."""
import numpy as np
import pytest

from jseg_ret.bricks import GroupNorm  # noqa: E402
from jseg_ret.ops.group_norm import GroupNormAct, group_norm_act  # first: Jittor

import jittor as jt  # noqa: E402
from jittor import nn  # noqa: E402


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape,groups", [((2, 12, 5, 7), 4), ((1, 6, 3, 1), 6),
                                          ((1, 64, 33, 9), 32)])
def test_matches_group_norm(shape, groups, relu):
    rng = np.random.RandomState(shape[1])
    gn = GroupNorm(shape[1], num_groups=groups)
    gn.weight = jt.array(rng.rand(shape[1]).astype(np.float32) + 0.5)
    gn.bias = jt.array(rng.randn(shape[1]).astype(np.float32))
    x = jt.array((rng.randn(*shape) * 3 + 2).astype(np.float32))
    ref = gn(x)
    ref = (nn.relu(ref) if relu else ref).numpy()
    y = group_norm_act(x, gn.weight, gn.bias, groups, gn.eps, relu).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=2e-5)


def test_module_non_contiguous_and_fallback():
    rng = np.random.RandomState(2)
    gn = GroupNorm(8, num_groups=2)
    x = jt.array(rng.randn(2, 5, 8, 6).astype(np.float32)).permute(0, 2, 1, 3)  # (2, 8, 5, 6)
    ref = nn.relu(gn(x)).numpy()
    m = GroupNormAct(gn, nn.ReLU())
    np.testing.assert_allclose(m(x).numpy(), ref, rtol=1e-4, atol=2e-5)  # gradient: fallback
    with jt.no_grad():
        np.testing.assert_allclose(m(x).numpy(), ref, rtol=1e-4, atol=2e-5)  # the kernel
    with pytest.raises(ValueError, match="ReLU"):
        GroupNormAct(gn, nn.Sigmoid())
