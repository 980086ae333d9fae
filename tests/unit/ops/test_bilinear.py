"""The CPU bilinear kernel (ops/bilinear.py) against PyTorch's F.interpolate: values and input
gradients for up- and downsampling, both align_corners settings, float32 and float64, and the
channels-last variant used by the SegRet inference fast path, and the resize-and-sum of the
fused SegRet head."""
import numpy as np
import pytest

from jseg_ret.ops import resize, resize_nhwc
from jseg_ret.ops.bilinear import bilinear_resize_nhwc, resize_sum_nhwc, source_index

import jittor as jt

torch = pytest.importorskip("torch")

CASES = [  # (n, c, h, w) -> (H, W)
    ((2, 3, 7, 9), (16, 20)),    # upsample, non-integer factors
    ((1, 2, 16, 12), (5, 7)),    # downsample
    ((1, 1, 1, 5), (3, 8)),      # a single source row
    ((1, 2, 6, 6), (6, 11)),     # one axis unchanged
]


def torch_resize(x, g, size, align_corners):
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, size, mode="bilinear", align_corners=align_corners)
    (yt * torch.tensor(g)).sum().backward()
    return yt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape,size", CASES)
def test_matches_torch_values_and_gradients(shape, size, align_corners):
    rng = np.random.RandomState(0)
    x = rng.randn(*shape).astype(np.float32)
    g = rng.randn(*shape[:2], *size).astype(np.float32)
    y_ref, dx_ref = torch_resize(x, g, size, align_corners)
    xj = jt.array(x)
    y = resize(xj, size, align_corners=align_corners)
    dx = jt.grad((y * jt.array(g)).sum(), xj)
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=0, atol=2e-6)
    np.testing.assert_allclose(dx.numpy(), dx_ref, rtol=0, atol=5e-6)


def test_float64_keeps_precision():
    rng = np.random.RandomState(1)
    x = rng.randn(1, 2, 5, 7)
    y_ref, _ = torch_resize(x, np.ones((1, 2, 12, 9)), (12, 9), False)
    y = resize(jt.array(x, dtype="float64"), (12, 9)).numpy()  # jt.array alone makes float32
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-12)


def test_channels_last_equals_nchw():
    rng = np.random.RandomState(2)
    x = rng.randn(2, 5, 6, 24).astype(np.float32)  # (N, h, w, C)
    nchw = resize(jt.array(x.transpose(0, 3, 1, 2)), (13, 17)).numpy()
    nhwc = bilinear_resize_nhwc(jt.array(x), (13, 17)).numpy()
    np.testing.assert_allclose(nhwc.transpose(0, 3, 1, 2), nchw, rtol=0, atol=1e-6)


def test_source_index_is_pytorch_rule():
    # align_corners=False: src = max((dst + 0.5)·in/out − 0.5, 0); taps clamp at the border
    i0, i1, lam = source_index(4, 8, False)
    src = np.maximum((np.arange(8) + 0.5) * 0.5 - 0.5, 0)
    np.testing.assert_array_equal(i0, np.floor(src).astype(int))
    np.testing.assert_array_equal(i1, np.minimum(np.floor(src) + 1, 3))
    np.testing.assert_allclose(lam, src - np.floor(src))
    # align_corners=True: the corners map onto the corners
    i0, i1, lam = source_index(5, 9, True)
    assert (i0[0], lam[0]) == (0, 0) and (i0[-1], i1[-1]) == (4, 4)


def test_channels_last_gradient_equals_nchw():
    rng = np.random.RandomState(3)
    x = rng.randn(2, 5, 6, 3).astype(np.float32)
    g = rng.randn(2, 11, 4, 3).astype(np.float32)
    xl = jt.array(x)
    dl = jt.grad((bilinear_resize_nhwc(xl, (11, 4)) * jt.array(g)).sum(), xl).numpy()
    xc = jt.array(x.transpose(0, 3, 1, 2))
    dc = jt.grad((resize(xc, size=(11, 4)) * jt.array(g.transpose(0, 3, 1, 2))).sum(), xc)
    np.testing.assert_allclose(dl, dc.numpy().transpose(0, 2, 3, 1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("align_corners", [False, True])
def test_resize_sum_matches_resizes_then_sum(align_corners):
    # SegRet's fused linear_fuse: four channels-last maps (one already of the output's size)
    rng = np.random.RandomState(8)
    maps = [jt.array(rng.randn(2, h, w, 24).astype(np.float32))
            for h, w in ((16, 19), (8, 10), (4, 5), (2, 3))]
    shift = jt.array(rng.randn(24).astype(np.float32))
    with jt.no_grad():
        total = sum(resize_nhwc(m, (16, 19), align_corners=align_corners) for m in maps)
        for s, relu in ((shift, True), (None, False)):
            ref = (total + s).numpy() if s is not None else total.numpy()
            ref = np.maximum(ref, 0) if relu else ref
            got = resize_sum_nhwc(maps, (16, 19), align_corners, s, relu).numpy()
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="one N and C"):
        resize_sum_nhwc([maps[0], maps[1][..., :8]], (16, 19))
