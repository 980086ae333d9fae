import numpy as np
import pytest

from jseg_ret.bricks import Conv2d, ConvModule, Dropout2d, DropPath, LayerNorm2d, build_norm_layer
from jseg_ret.fast_path import fast_path
from jseg_ret.ops.mkl_conv import direct_depthwise_data_grad, direct_depthwise_forward

import jittor as jt


def test_conv_module_child_names_and_bias():
    m = ConvModule(4, 8, 3, padding=1, norm_cfg=dict(type="SyncBN"))
    names = set(m.state_dict())
    assert names == {"conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}
    m = ConvModule(4, 8, 1, norm_cfg=dict(type="GN", num_groups=4), act_cfg=None)
    assert {"conv.weight", "conv.bias"} - set(m.state_dict()) == {"conv.bias"}
    assert "gn.weight" in m.state_dict() and not hasattr(m, "activate")
    m = ConvModule(4, 8, 1, norm_cfg=None)
    assert "conv.bias" in m.state_dict()
    y = m(jt.randn(2, 4, 5, 6))
    assert tuple(y.shape) == (2, 8, 5, 6) and float(y.min()) >= 0  # ReLU


def test_norm_builder_names_and_errors():
    assert build_norm_layer(dict(type="BN"), 4)[0] == "bn"
    assert build_norm_layer(dict(type="SyncBN"), 4)[0] == "bn"
    assert build_norm_layer(dict(type="GN", num_groups=2), 4)[0] == "gn"
    assert build_norm_layer(dict(type="LN"), 4, postfix=1)[0] == "ln1"
    with pytest.raises(KeyError, match="num_groups"):
        build_norm_layer(dict(type="GN"), 4)
    with pytest.raises(KeyError, match="Did you mean"):
        build_norm_layer(dict(type="BNN"), 4)


def test_batchnorm_matches_pytorch_statistics():
    _, bn = build_norm_layer(dict(type="BN", momentum=0.1), 3)
    x = np.random.RandomState(0).randn(4, 3, 5, 6).astype(np.float32) * 2 + 1
    bn.train()
    y = bn(jt.array(x)).numpy()
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    ref = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, ref, atol=1e-4)
    n = x.size // 3  # running var uses the unbiased estimate, as torch
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * var * n / (n - 1), rtol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean, rtol=1e-5, atol=1e-6)
    bn.eval()
    y = bn(jt.array(x)).numpy()
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    np.testing.assert_allclose(y, (x - rm[None, :, None, None]) /
                               np.sqrt(rv[None, :, None, None] + 1e-5), atol=1e-4)


def test_layernorm_channels_first():
    ln = LayerNorm2d(4)
    x = np.random.randn(2, 4, 3, 3).astype(np.float32)
    y = ln(jt.array(x)).numpy()
    m = x.mean(1, keepdims=True)
    v = x.var(1, keepdims=True)
    np.testing.assert_allclose(y, (x - m) / np.sqrt(v + 1e-6), atol=1e-5)


def test_drop_path_and_dropout_follow_mode():
    x = jt.ones((64, 8, 2, 2))
    for layer in (DropPath(0.5), Dropout2d(0.5)):
        layer.eval()
        assert np.array_equal(layer(x).numpy(), x.numpy())
        layer.train()
        y = layer(x).numpy()
        assert set(np.unique(y)) <= {0.0, 2.0}  # kept paths rescaled by 1/keep
        assert 0 < (y == 0).mean() < 1


@pytest.mark.parametrize("kernel,stride,padding,dilation", [
    ((3, 3), 1, 1, 1), ((1, 21), 1, (0, 10), 1), ((7, 7), 1, 9, 3), ((3, 3), 2, 1, 1),
    ((1, 1), 1, 0, 1)], ids=["3x3", "1x21", "7x7-dil3", "3x3-s2", "1x1"])
def test_channels_last_conv_is_the_nchw_conv(kernel, stride, padding, dilation):
    """bricks.Conv2d(channels_last=True) — oneDNN NHWC forward/backward-data, the depthwise
    weight-gradient kernel (ops.dwconv), the 1×1 GEMM — against the NCHW convolution."""
    rng = np.random.RandomState(0)
    c = 6
    conv = Conv2d(c, c, kernel, stride=stride, padding=padding, dilation=dilation, groups=c,
                  channels_last=True)
    x = jt.array(rng.randn(2, 13, 17, c).astype(np.float32))
    g = jt.array(rng.randn(*conv(x).shape).astype(np.float32))

    def run():
        y = conv(x)
        return [y.numpy()] + [t.numpy() for t in jt.grad((y * g).sum(), [conv.weight, x])]

    fast = run()
    with fast_path(False):  # permute -> Jittor's NCHW conv -> permute
        ref = run()
    for a, b in zip(fast, ref):
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max()


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2)],
                         ids=["3x3", "3x3-s2", "3x3-dil2"])
def test_wide_depthwise_conv_direct_loops_are_the_nchw_conv(stride, padding, dilation):
    """Wide depthwise 3×3 convs (MSCAN's FFN) take the direct forward and data-gradient loops of
    ops.dwconv instead of oneDNN's: the same values and gradients as the NCHW convolution."""
    rng = np.random.RandomState(0)
    c, shape = 256, (2, 48, 48, 256)
    assert direct_depthwise_forward(shape, 9) and direct_depthwise_data_grad(shape, 9)
    conv = Conv2d(c, c, 3, stride=stride, padding=padding, dilation=dilation, groups=c,
                  channels_last=True)
    x = jt.array(rng.randn(*shape).astype(np.float32))
    g = jt.array(rng.randn(*conv(x).shape).astype(np.float32))

    def run():
        y = conv(x)
        return [y.numpy()] + [t.numpy() for t in jt.grad((y * g).sum(), [conv.weight, x])]

    fast = run()
    with fast_path(False):
        ref = run()
    for a, b in zip(fast, ref):
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max()
