"""The fused CUDA retention kernel on a GPU: forward and the three gradients against the naive
composition evaluated in float64 on the CPU, float32 and float16, head dims up to 128, shapes that
do not tile evenly, the 1-D form. Skips without a GPU (Jittor's use_cuda off)."""
import numpy as np
import pytest

from jseg_ret.ops import kernels, retention_1d, retention_2d
from jseg_ret.ops.retention import _resolve

import jittor as jt

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not (jt.has_cuda and jt.flags.use_cuda),
                       reason="no GPU: Jittor runs on the CPU (jt.has_cuda / use_cuda off)"),
]
TOL = {"float32": 1e-5, "float16": 2e-3}


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def inputs(seed, B, N, L, d, e, logit_std):
    rng = np.random.default_rng(seed)
    s = np.sqrt(logit_std)
    q = rng.standard_normal((B, N, L, d)) * s
    k = rng.standard_normal((B, N, L, d)) * s / np.sqrt(d)
    v = rng.standard_normal((B, N, L, e))
    g = rng.standard_normal((B, N, L, e))
    decay = np.log(1 - 2.0 ** (-rng.uniform(2, 12, size=N))).astype(np.float32)
    return q, k, v, decay, g


def run(form, impl, arrays, dtype, hw):
    q, k, v, decay, g = arrays
    q, k, v = (jt.array(x, dtype=dtype) for x in (q, k, v))
    decay = jt.array(decay)
    out = (retention_2d(q, k, v, decay, hw, impl=impl) if form == "2d"
           else retention_1d(q, k, v, decay, impl=impl))
    assert str(out.dtype) == dtype
    grads = jt.grad((out * jt.array(g, dtype=dtype)).sum(), [q, k, v])
    return [x.numpy().astype(np.float64) for x in [out] + list(grads)]


def test_fused_is_available_and_auto_picks_it():
    assert kernels.fused_available(), kernels.unavailable_reason()
    x = jt.zeros((1, 1, 4, 8))
    assert _resolve("auto", x, x) == "fused"
    # float64 has no CUDA kernel: 'auto' falls back, 'fused' says why
    x64 = x.float64()
    assert _resolve("auto", x64, x64) == "naive"
    with pytest.raises(TypeError, match="float64 unsupported"):
        kernels.fused_retention(x64, x64, x64, jt.zeros((1,)), 2, 4)


# (form, B, N, H, W, d, e, logit std): each tile configuration (padded head dim 32 / 64 / 128),
# uneven tiling, several tiles per sequence, e != d, large logits.
CASES = [
    ("2d", 2, 3, 7, 9, 16, 16, 3.0),
    ("2d", 2, 2, 7, 9, 48, 32, 10.0),
    ("2d", 1, 2, 13, 17, 64, 64, 3.0),
    ("2d", 1, 2, 9, 11, 128, 96, 3.0),
    ("1d", 4, 2, 1, 130, 32, 32, 10.0),
    ("1d", 3, 2, 1, 13, 32, 32, 3.0),
]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "{}_B{}N{}_{}x{}_d{}e{}_s{}".format(*c))
def test_fused_cuda_matches_naive(case, dtype):
    form, B, N, H, W, d, e, std = case
    seed = int(np.random.SeedSequence().generate_state(1)[0])
    arrays = inputs(seed, B, N, H * W, d, e, std)
    q, k, v, decay, g = arrays
    # reference: the same (dtype-rounded) inputs, naive composition in float64 on the CPU
    rounded = [x.astype(dtype).astype(np.float64) for x in (q, k, v, g)]
    with jt.flag_scope(use_cuda=0):
        ref = run(form, "naive", rounded[:3] + [decay, rounded[3]], "float64", (H, W))
    got = run(form, "fused", arrays, dtype, (H, W))
    for name, a, b in zip(("out", "dq", "dk", "dv"), got, ref):
        assert np.isfinite(a).all(), f"{name} not finite (seed {seed})"
        err = rel(a, b)
        assert err <= TOL[dtype], f"{case} {dtype} {name}: rel err {err:.3g} (seed {seed})"


def test_head_dim_above_128_is_refused():
    x = jt.zeros((1, 1, 4, 160))
    with pytest.raises(ValueError, match="at most 128"):
        kernels.fused_retention(x, x, x, jt.zeros((1,)), 2, 2)
    assert _resolve("auto", x, x) == "naive"
