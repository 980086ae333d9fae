"""The fused Linear + bias (+ GELU/ReLU) and bias (+ act) CPU kernels (ops/fused_linear.py)
against the plain Jittor ops, and when they are used."""
import math

import numpy as np
import pytest

from jseg_ret.bricks import GELU, Conv2d  # noqa: E402
from jseg_ret.fast_path import fast_path  # noqa: E402
from jseg_ret.ops.fused_linear import (  # first: Jittor
    BiasAct,
    FusedLinear,
    PointwiseConvNCHW,
    applies,
    bias_act,
    linear_act,
    linear_channels_first,
)

import jittor as jt  # noqa: E402
from jittor import nn  # noqa: E402

PLAIN = {None: lambda y: y, "gelu": GELU(), "relu": nn.relu}


def _rand(rng, *shape, scale=1.0):
    return jt.array((rng.randn(*shape) * scale).astype(np.float32))


def test_gelu_epilogue_matches_erf():
    # over the whole range the rational erf must agree with math.erf to float rounding
    x = np.linspace(-9, 9, 4001).astype(np.float32)
    ref = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    y = bias_act(jt.array(x.reshape(1, -1)), jt.zeros((x.size,)), "gelu").numpy().ravel()
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-6 * np.maximum(1, np.abs(ref)).max())


@pytest.mark.parametrize("act", [None, "gelu", "relu"])
@pytest.mark.parametrize("shape", [(3, 5, 7, 13), (1, 300, 40), (2, 1, 9), (2048, 24)])
def test_linear_act_matches_plain(shape, act):
    # odd sizes; (1, 300, 40) and (2048, 24) take the row-block path, the others one sgemm
    rng = np.random.RandomState(len(shape) + shape[-1])
    n = 11 if shape[-1] != 24 else 520
    x, w, b = _rand(rng, *shape), _rand(rng, n, shape[-1], scale=0.3), _rand(rng, n)
    ref = PLAIN[act](nn.linear(x, w, b)).numpy()
    y = linear_act(x, w, b, act).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_linear_act_non_contiguous_input():
    rng = np.random.RandomState(3)
    base = _rand(rng, 6, 17, 10)
    x = base.permute(1, 0, 2)[:, ::2]   # a strided view (17, 3, 10)
    w, b = _rand(rng, 5, 10), _rand(rng, 5)
    np.testing.assert_allclose(linear_act(x, w, b, "gelu").numpy(),
                               GELU()(nn.linear(x, w, b)).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("act", [None, "gelu", "relu"])
def test_bias_act_matches_plain(act):
    rng = np.random.RandomState(5)
    x = _rand(rng, 2, 9, 7, 33, scale=2).permute(0, 2, 1, 3)  # non-contiguous, odd channels
    b = _rand(rng, 33)
    np.testing.assert_allclose(bias_act(x, b, act).numpy(), PLAIN[act](x + b).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_modules_use_kernel_only_without_gradients_and_match():
    rng = np.random.RandomState(7)
    lin = nn.Linear(12, 20)
    fl = FusedLinear.from_linear(lin, GELU(), "gelu")
    x = _rand(rng, 4, 6, 12)
    assert not applies(x, fl.weight, fl.bias)  # x needs a gradient: the formula runs
    ref = GELU()(lin(x)).numpy()
    np.testing.assert_allclose(fl(x).numpy(), ref, rtol=1e-5, atol=1e-6)
    with jt.no_grad():
        assert applies(x, fl.weight, fl.bias)
        np.testing.assert_allclose(fl(x).numpy(), ref, rtol=1e-5, atol=1e-6)
        with fast_path(False):
            assert not applies(x, fl.weight, fl.bias)
            np.testing.assert_allclose(fl(x).numpy(), ref, rtol=1e-5, atol=1e-6)
    conv = Conv2d(8, 8, 3, padding=1, groups=8, channels_last=True)
    xm = _rand(rng, 1, 5, 6, 8)
    ref = GELU()(conv(xm)).numpy()
    ba = BiasAct(conv, GELU(), "gelu")
    assert conv.bias is None
    with jt.no_grad():
        np.testing.assert_allclose(ba(xm).numpy(), ref, rtol=1e-5, atol=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="act="):
        linear_act(jt.zeros((2, 3)), jt.zeros((4, 3)), jt.zeros((4,)), "tanh")
    with pytest.raises(ValueError, match="weight"):
        linear_act(jt.zeros((2, 3)), jt.zeros((4, 5)), jt.zeros((4,)))
    with pytest.raises(ValueError, match="channels-last"):
        BiasAct(Conv2d(3, 3, 3), GELU(), "gelu")
    with pytest.raises(ValueError, match="both"):
        FusedLinear(jt.zeros((4, 3)), jt.zeros((4,)), GELU(), None)


@pytest.mark.parametrize("act", [None, "relu"])
def test_linear_channels_first_matches_conv(act):
    # a 1×1 conv on NCHW maps, odd sizes, a strided (non-contiguous) input
    rng = np.random.RandomState(11)
    conv = nn.Conv2d(13, 7, 1)
    x = _rand(rng, 2, 13, 9, 10)[:, :, ::2]
    ref = PLAIN[act](conv(x)).numpy()
    y = linear_channels_first(x, conv.weight.reshape(7, 13), conv.bias, act).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    pw = PointwiseConvNCHW(nn.Conv2d(13, 7, 1, bias=False))
    with jt.no_grad():
        np.testing.assert_allclose(pw(x).numpy(), pw.conv(x).numpy(), rtol=1e-5, atol=1e-5)
