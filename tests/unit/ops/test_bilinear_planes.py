"""The bilinear kernel's many-planes forward (NCHW, ≥ 8 planes: W-sampling first, then
contiguous row blends) against PyTorch, with gradients, a strided input, and an output beyond
64 MB (written with streaming stores)."""
import numpy as np
import pytest

from jseg_ret.ops import resize  # first: prepares Jittor

import jittor as jt  # noqa: E402

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape,size", [((2, 5, 7, 9), (16, 20)), ((1, 9, 16, 12), (5, 7)),
                                        ((1, 8, 1, 5), (3, 8)), ((1, 12, 8, 8), (64, 64))])
def test_many_planes_match_torch(shape, size, align_corners):
    rng = np.random.RandomState(shape[1])
    x = rng.randn(*shape).astype(np.float32)
    g = rng.randn(*shape[:2], *size).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, size, mode="bilinear", align_corners=align_corners)
    (yt * torch.tensor(g)).sum().backward()
    xj = jt.array(x)
    y = resize(xj, size, align_corners=align_corners)
    dx = jt.grad((y * jt.array(g)).sum(), xj)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=0, atol=2e-6)
    # (the backward is unchanged; 8x upsampling sums 64 terms per input)
    np.testing.assert_allclose(dx.numpy(), xt.grad.numpy(), rtol=0, atol=2e-5)


def test_strided_input():
    rng = np.random.RandomState(4)
    x = rng.randn(3, 6, 10, 11).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.tensor(x).permute(1, 0, 2, 3), (13, 17),
                                          mode="bilinear", align_corners=False).numpy()
    xj = jt.array(x).permute(1, 0, 2, 3)  # (6, 3, 10, 11), not contiguous
    with jt.no_grad():
        y = resize(xj, (13, 17), align_corners=False).numpy()
    np.testing.assert_allclose(y, ref, rtol=0, atol=2e-6)


def test_output_beyond_64_mb_is_streamed_and_matches_torch():
    # 18 planes of 1024 x 1024 floats = 72 MB: the streaming-store rows
    rng = np.random.RandomState(5)
    x = rng.randn(1, 18, 128, 128).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.tensor(x), (1024, 1024), mode="bilinear",
                                          align_corners=False).numpy()
    with jt.no_grad():
        y = resize(jt.array(x), (1024, 1024), align_corners=False).numpy()
    np.testing.assert_allclose(y, ref, rtol=0, atol=2e-6)
