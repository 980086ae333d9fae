"""Fused retention (the C++ kernel on CPU; the CUDA kernel where Jittor runs on a GPU) against the
naive Jittor composition in float64: forward and the three gradients, float16 inputs, finite
differences, the 1-D form against a per-token loop, error messages, and SegRet-T end to end.

Inputs are fresh random draws each run; the seed is in every failure message. Kernels compile once
per dtype (the jit key has no shapes), so the shapes here cost no extra compiles.
"""
import os

import numpy as np
import pytest

from jseg_ret.ops import kernels, retention_1d, retention_2d
from jseg_ret.ops.retention import _resolve
from tests.helpers.paths import ROOT

import jittor as jt

SEGRET_T = os.path.join(ROOT, "configs/segret/segret-t_512x512_ade20k.py")
TOL = {"float32": 1e-5, "float64": 1e-10, "float16": 2e-3}


class SeededRng:
    """numpy Generator that remembers its seed (for failure messages)."""

    def __init__(self, seed):
        self.seed = seed
        self.gen = np.random.default_rng(seed)

    def __getattr__(self, name):
        return getattr(self.gen, name)


@pytest.fixture
def rng():
    return SeededRng(int(np.random.SeedSequence().generate_state(1)[0]))


def f64(x):
    # jt.array alone turns float64 numpy arrays into float32 (Jittor's auto_convert_64_to_32)
    return jt.array(x, dtype="float64")


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def make_inputs(rng, B, N, L, d, e, logit_std):
    """q·k logits with standard deviation ``logit_std`` (k carries the d^-1/2 scale, as in RMT);
    decays spread like RMT's heads (λ from -0.29 to -0.0003)."""
    s = np.sqrt(logit_std)
    q = rng.standard_normal((B, N, L, d)) * s
    k = rng.standard_normal((B, N, L, d)) * s / np.sqrt(d)
    v = rng.standard_normal((B, N, L, e))
    decay = np.log(1 - 2.0 ** (-rng.uniform(2, 12, size=N)))
    g = rng.standard_normal((B, N, L, e))  # upstream gradient weight
    return q, k, v, decay.astype(np.float32), g


def run(form, impl, arrays, dtype, hw=None):
    """Output and (dq, dk, dv) of sum(O * g) as float64 numpy arrays."""
    q, k, v, decay, g = arrays
    q, k, v = (jt.array(x, dtype=dtype) for x in (q, k, v))
    decay = jt.array(decay)
    if form == "2d":
        out = retention_2d(q, k, v, decay, hw, impl=impl)
    else:
        out = retention_1d(q, k, v, decay, impl=impl)
    assert str(out.dtype) == dtype
    grads = jt.grad((out * jt.array(g, dtype=dtype)).sum(), [q, k, v])
    return [x.numpy().astype(np.float64) for x in [out] + list(grads)]


def assert_matches_naive(form, arrays, dtype, hw=None, seed=None):
    # The reference sees exactly the inputs the fused kernel sees (rounded to dtype first).
    q, k, v, decay, g = arrays
    rounded = [x.astype(dtype).astype(np.float64) for x in (q, k, v)]
    ref = run(form, "naive", rounded + [decay, g.astype(dtype).astype(np.float64)], "float64", hw)
    got = run(form, "fused", arrays, dtype, hw)
    for name, a, b in zip(("out", "dq", "dk", "dv"), got, ref):
        assert np.isfinite(a).all(), f"{name} not finite (seed {seed})"
        err = rel(a, b)
        assert err <= TOL[dtype], f"{form} {dtype} {name}: rel err {err:.3g} > {TOL[dtype]} " \
                                  f"(shape {q.shape}, e={v.shape[-1]}, hw={hw}, seed {seed})"


def test_auto_picks_the_fused_kernel():
    assert kernels.fused_available(), kernels.unavailable_reason()
    q = jt.zeros((1, 1, 4, 8))
    assert _resolve("auto", q, q) == "fused"
    assert _resolve("naive", q, q) == "naive"


# (B, N, H, W, d, e, logit std): grids that do not tile evenly (the CPU kernel's tiles are
# 32/64 tokens, the CUDA kernel's 16-64), d in {16, 32, 48}, e != d, and large logits.
CASES_2D = [(2, 3, 7, 9, 16, 16, 3.0),
            (2, 2, 7, 9, 48, 32, 10.0),   # logits up to ±40: softmax stability
            (1, 2, 5, 13, 32, 48, 3.0)]   # L = 65: one token past a 64-tile


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES_2D, ids=lambda c: "B{}N{}_{}x{}_d{}e{}_s{}".format(*c))
def test_2d_forward_and_grads_match_naive(rng, case, dtype):
    B, N, H, W, d, e, std = case
    arrays = make_inputs(rng, B, N, H * W, d, e, std)
    assert_matches_naive("2d", arrays, dtype, (H, W), rng.seed)


@pytest.mark.parametrize("S,d,std", [(13, 32, 10.0), (130, 16, 3.0)])
def test_1d_forward_and_grads_match_naive(rng, S, d, std):
    arrays = make_inputs(rng, 3, 2, S, d, d, std)
    assert_matches_naive("1d", arrays, "float32", seed=rng.seed)


@pytest.mark.parametrize("form", ["2d", "1d"])
def test_float16_inputs(rng, form):
    arrays = make_inputs(rng, 2, 2, 63, 32, 32, 10.0)
    assert_matches_naive(form, arrays, "float16", (7, 9) if form == "2d" else None, rng.seed)


def test_finite_difference_gradients(rng):
    """Central differences of sum(O·g) in float64 (the kernel's own precision) on a tiny grid."""
    B, N, H, W, d, e = 1, 2, 2, 3, 4, 3
    q, k, v, decay, g = make_inputs(rng, B, N, H * W, d, e, 3.0)
    decay_v, g_v = jt.array(decay), f64(g)

    def loss(qq, kk, vv):
        out = retention_2d(f64(qq), f64(kk), f64(vv), decay_v, (H, W), "fused")
        return float((out * g_v).sum().item())

    _, dq, dk, dv = run("2d", "fused", (q, k, v, decay, g), "float64", (H, W))
    eps = 1e-5
    arrays = [q, k, v]
    for which, analytic in enumerate((dq, dk, dv)):
        numeric = np.zeros_like(analytic)
        for idx in np.ndindex(arrays[which].shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[which][idx] += eps
            minus[which][idx] -= eps
            numeric[idx] = (loss(*plus) - loss(*minus)) / (2 * eps)
        err = rel(analytic, numeric)
        assert err < 1e-7, f"d{'qkv'[which]}: analytic vs finite differences rel err {err:.3g} " \
                           f"(seed {rng.seed})"


def test_1d_matches_per_token_loop(rng):
    """retention_1d against O_i = Σ_j softmax_j(q_i·k_j + λ|i−j|) v_j, token by token."""
    B, N, S, d, e = 2, 2, 9, 8, 5
    q, k, v, decay, _ = make_inputs(rng, B, N, S, d, e, 5.0)
    expected = np.zeros((B, N, S, e))
    for b in range(B):
        for n in range(N):
            for i in range(S):
                logits = [q[b, n, i] @ k[b, n, j] + decay[n] * abs(i - j) for j in range(S)]
                w = np.exp(np.array(logits) - max(logits))
                expected[b, n, i] = (w / w.sum()) @ v[b, n]
    for impl in ("fused", "naive"):
        out = retention_1d(f64(q), f64(k), f64(v), jt.array(decay), impl=impl)
        err = rel(out.numpy(), expected)
        assert err < 1e-12, f"{impl}: rel err {err:.3g} (seed {rng.seed})"


def test_decay_gets_no_gradient():
    q = jt.randn(1, 2, 6, 4)
    decay = jt.array(np.array([-0.1, -0.2], np.float32))
    out = retention_2d(q, q, q, decay, (2, 3), impl="fused")
    assert jt.grad(out.sum(), decay).numpy().tolist() == [0.0, 0.0]


@pytest.mark.parametrize("args,error,match", [
    (((1, 2, 6, 4), (1, 2, 6, 4), (1, 2, 6, 4), (2,), (2, 4)), ValueError, r"hw=\(2, 4\).*L=6"),
    (((2, 6, 4), (2, 6, 4), (2, 6, 4), (2,), (2, 3)), ValueError, r"must be 4-D"),
    (((1, 2, 6, 4), (1, 2, 5, 4), (1, 2, 6, 4), (2,), (2, 3)), ValueError, r"shape mismatch"),
    (((1, 2, 6, 4), (1, 2, 6, 4), (1, 2, 6, 4), (3,), (2, 3)), ValueError,
     r"decay must have shape \(2,\).*\(3,\)"),
])
def test_bad_shapes_are_reported(args, error, match):
    qs, ks, vs, ds, hw = args
    with pytest.raises(error, match=match):
        retention_2d(jt.zeros(qs), jt.zeros(ks), jt.zeros(vs), jt.zeros(ds), hw, impl="fused")


def test_bad_impl_and_direct_kernel_errors():
    x = jt.zeros((1, 2, 6, 4))
    decay = jt.zeros((2,))
    with pytest.raises(ValueError, match="impl 'flash' unknown"):
        retention_1d(x, x, x, decay, impl="flash")
    with pytest.raises(ValueError, match="grid 2x4 does not match L=6"):
        kernels.fused_retention(x, x, x, decay, 2, 4)
    with pytest.raises(TypeError, match="dtypes differ"):
        kernels.fused_retention(x, x, x.float64(), decay, 2, 3)
    with pytest.raises(TypeError, match="dtype int32 unsupported"):
        xi = x.int32()
        kernels.fused_retention(xi, xi, xi, decay, 2, 3)


# ------------------------------------------------------------------------------------------------
# SegRet-T: the backbone with retention_impl 'naive' and 'fused', same weights.
def build_backbone(impl):
    from jseg_ret import Config, build_segmentor
    cfg = Config.fromfile(SEGRET_T)
    cfg.model.backbone.retention_impl = impl
    # no stochastic depth: a dropped block would leave its q_proj with an exactly zero gradient
    cfg.model.backbone.drop_path_rate = 0.0
    return build_segmentor(cfg.model).backbone


@pytest.fixture(scope="module")
def segret_pair():
    if not os.path.isfile(SEGRET_T):
        pytest.skip(f"{SEGRET_T} not written yet")
    naive, fused = build_backbone("naive"), build_backbone("fused")
    # numpy copies: given Vars, Jittor's load_state_dict makes the two models share parameters
    # (and their stop-grad state, which eval() / train() then get wrong)
    fused.load_state_dict({k: v.numpy() for k, v in naive.state_dict().items()})
    return naive, fused


def test_segret_t_backbone_fused_matches_naive(segret_pair):
    naive, fused = segret_pair
    naive.eval()
    fused.eval()
    x = jt.randn(1, 3, 64, 96)
    with jt.no_grad():
        outs_n, outs_f = naive(x), fused(x)
    assert len(outs_n) == len(outs_f) == 4
    for i, (a, b) in enumerate(zip(outs_f, outs_n)):
        err = rel(a.numpy(), b.numpy())
        assert err <= 1e-5, f"stage {i} output {tuple(a.shape)}: fused vs naive rel err {err:.3g}"


def test_segret_t_backbone_trains_through_fused(segret_pair):
    _, fused = segret_pair
    fused.train()
    x = jt.randn(1, 3, 64, 96)
    loss = sum((o * jt.randn(o.shape)).sum() for o in fused(x))
    params = [p for name, p in fused.named_parameters()
              if not p.is_stop_grad() and "retention.q_proj" in name]
    assert params
    for g in jt.grad(loss, params):
        arr = g.numpy()
        assert np.isfinite(arr).all() and np.abs(arr).max() > 0
