"""The fused Linear + bias (+ GELU/ReLU), Linear-act-Linear, sum (+ bias, + act) and bias
(+ act) CPU kernels (ops/fused_linear.py) against the plain Jittor ops, and when they are used."""
import math

import numpy as np
import pytest

from jseg_ret.bricks import GELU, Conv2d  # noqa: E402
from jseg_ret.fast_path import fast_path  # noqa: E402
from jseg_ret.ops.fused_linear import (  # first: Jittor
    BiasAct,
    FusedLinear,
    FusedMLP,
    PointwiseConvNCHW,
    add_maps,
    applies,
    bias_act,
    linear_act,
    linear_channels_first,
    mlp_act,
    sum_act,
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


@pytest.mark.parametrize("act", [None, "relu"])
def test_linear_channels_first_from_channels_last_input(act):
    # NHWC in, NCHW out: the classifier's logits without a copy; a strided input
    rng = np.random.RandomState(12)
    w, b = _rand(rng, 7, 13), _rand(rng, 7)
    x = _rand(rng, 2, 9, 10, 13)[:, ::2]
    ref = PLAIN[act](nn.linear(x, w, b)).permute(0, 3, 1, 2).numpy()
    y = linear_channels_first(x, w, b, act, channels_last_input=True).numpy()
    assert y.shape == (2, 7, 5, 10)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        linear_channels_first(x.permute(0, 3, 1, 2), w, b, channels_last_input=True)


def test_channels_first_out_conv_and_its_fused_linear():
    rng = np.random.RandomState(13)
    conv = Conv2d(6, 4, 1, channels_last=True, channels_first_out=True)
    x = _rand(rng, 2, 5, 3, 6)
    ref = nn.linear(x, conv.weight.reshape(4, 6), conv.bias).permute(0, 3, 1, 2).numpy()
    np.testing.assert_allclose(conv(x).numpy(), ref, rtol=1e-5, atol=1e-6)
    fl = FusedLinear.from_linear(conv)
    assert fl.out_channels_first
    np.testing.assert_allclose(fl(x).numpy(), ref, rtol=1e-5, atol=1e-6)  # formula (gradient)
    with jt.no_grad():
        np.testing.assert_allclose(fl(x).numpy(), ref, rtol=1e-5, atol=1e-6)  # kernel
    with pytest.raises(ValueError, match="channels_first_out"):
        Conv2d(6, 4, 1, channels_first_out=True)


@pytest.mark.parametrize("rows", [40, 5000])  # one product after the other / blocks of rows
def test_mlp_act_matches_two_linears(rows):
    rng = np.random.RandomState(rows)
    fc1, fc2 = nn.Linear(24, 72), nn.Linear(72, 24)
    x = _rand(rng, 1, rows, 24)
    ref = fc2(GELU()(fc1(x))).numpy()
    y = mlp_act(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias, "gelu").numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    mlp = FusedMLP(fc1, GELU(), "gelu", fc2)
    np.testing.assert_allclose(mlp(x).numpy(), ref, rtol=1e-5, atol=1e-5)  # formula (gradient)
    with jt.no_grad():
        np.testing.assert_allclose(mlp(x).numpy(), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="w2"):
        mlp_act(x, fc1.weight, fc1.bias, fc1.weight, fc1.bias, "gelu")
    with pytest.raises(ValueError, match="bias"):
        FusedMLP(nn.Linear(3, 4, bias=False), GELU(), "gelu", nn.Linear(4, 3))


@pytest.mark.parametrize("act", [None, "relu"])
def test_sum_act_matches_plain(act):
    rng = np.random.RandomState(17)
    maps = [_rand(rng, 2, 7, 9, 33) for _ in range(4)]
    maps[1] = maps[1].permute(0, 2, 1, 3).permute(0, 2, 1, 3) * 1.0  # a computed input
    b = _rand(rng, 33)
    total = maps[0] + maps[1] + maps[2] + maps[3]
    np.testing.assert_allclose(sum_act(maps, b, act).numpy(), PLAIN[act](total + b).numpy(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sum_act(maps[:1]).numpy(), maps[0].numpy())  # nothing to add
    np.testing.assert_allclose(sum_act(maps[:2], None, act).numpy(),
                               PLAIN[act](maps[0] + maps[1]).numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        sum_act([maps[0], maps[0][:, :3]])


def test_add_maps_kernel_without_gradients_sum_with_them():
    rng = np.random.RandomState(19)
    x, y = _rand(rng, 3, 5, 8), _rand(rng, 3, 5, 8)
    ref = (x + y).numpy()
    g = jt.grad(add_maps(x, y * 2.0).sum(), y)  # training: differentiable
    np.testing.assert_allclose(g.numpy(), np.full((3, 5, 8), 2.0, np.float32))
    with jt.no_grad():
        np.testing.assert_allclose(add_maps(x, y).numpy(), ref, rtol=1e-6, atol=1e-6)
        # broadcasting shapes take Jittor's sum
        np.testing.assert_allclose(add_maps(x, y[:1]).numpy(), (x + y[:1]).numpy())
