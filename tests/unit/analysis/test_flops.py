"""FLOPs counter: hand-checked tiny cases, retention MACs, and SegNeXt-T against its published
figure (6.6 GFLOPs at 512×512, SegNeXt's torchprofile count)."""
import os

import numpy as np
import pytest

from jseg_ret import Config, build_segmentor
from jseg_ret.analysis.flops import count_flops, matmul_macs
from jseg_ret.bricks import BatchNorm2d
from jseg_ret.models.backbones.rmt import VisionRetention
from tests.helpers.paths import ROOT

import jittor as jt
from jittor import nn


class Tiny(nn.Module):
    """conv 3→4 (3×3) → depthwise 3×3 → BN, gated by its input → per-token Linear 4→10 →
    token Gram matrix t tᵀ."""

    def __init__(self):
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.bn = BatchNorm2d(4)
        self.fc = nn.Linear(4, 10)

    def execute(self, x):
        y = self.conv(x)
        y = self.bn(self.dw(y)) * y
        t = self.fc(y.reshape(1, 4, 30).transpose(0, 2, 1))  # (1, 30, 10)
        return jt.matmul(t, t.transpose(0, 2, 1))            # (1, 30, 30)


def test_tiny_model_by_hand():
    model = Tiny()
    r = count_flops(model, (1, 3, 5, 6), forward=lambda m, x: m(x))
    out = 1 * 4 * 5 * 6                      # 120 output elements of each conv
    conv = out * 3 * 3 * 3                   # 3240: C_in·k² per output
    dw = out * 1 * 3 * 3                     # 1080: depthwise, one input channel per output
    fc = 30 * 4 * 10                         # 1200
    gram = 30 * 10 * 30                      # 9000
    assert r.totals["macs"] == conv + dw + fc + gram == 14520
    assert r.kinds == {"conv": conv, "dwconv": dw, "linear": fc, "matmul": gram,
                       "norm(torchprofile only)": out, "mul(torchprofile only)": out}
    # torchprofile: + BN with affine (elements) + the gating product (elements)
    assert r.totals["torchprofile"] == 14520 + out + out
    # mmcv: conv bias adds, BN 2×elements, no functional matmul
    assert r.totals["mmcv"] == (conv + out) + (dw + out) + 2 * out + fc
    assert r.total_params == (3 * 4 * 9 + 4) + (4 * 9 + 4) + 8 + (40 + 10)
    by_name = {row["module"]: row for row in r.rows(1)}
    assert by_name["conv"]["gflops"] * 1e9 == pytest.approx(conv)
    assert r.own[""]["macs"] == gram  # the functional product is charged to the caller


def test_matmul_macs_broadcasting():
    assert matmul_macs((2, 3, 4), (4, 5)) == 2 * 3 * 4 * 5
    assert matmul_macs((8, 1, 3, 4), (10, 4, 5)) == 8 * 10 * 3 * 4 * 5
    assert matmul_macs((7, 4), (4,)) == 28


@pytest.mark.parametrize("impl", ["naive", "fused"])
@pytest.mark.parametrize("decomposed", [False, True], ids=["whole", "decomposed"])
def test_retention_macs(impl, decomposed):
    module = VisionRetention(embed_dim=16, num_heads=2, retention_impl=impl)
    decay = jt.array(np.log(1 - 2.0 ** (-2 - 4 * np.arange(2) / 2)).astype(np.float32))
    r = count_flops(module, (1, 4, 6, 16), forward=lambda m, x: m(x, decay, decomposed))
    linear = 4 * (24 * 16 * 16)     # q, k, v, out projections over 24 tokens
    lepe = 24 * 16 * 25             # depthwise 5×5
    if decomposed:                  # rows: 4 sequences of 6; columns: 6 of 4; N=2, d=e=8
        ret = 4 * 2 * 6 * 6 * 16 + 6 * 2 * 4 * 4 * 16
    else:                           # B·N·L²·(d+e)
        ret = 1 * 2 * 24 * 24 * 16
    assert r.totals["macs"] == linear + lepe + ret
    qk = 2 * (24 * 16 * 16)         # q, k: one functional product [W_q; s·W_k] (v: v_proj)
    if impl == "fused":
        assert r.kinds["retention"] == ret and r.kinds["matmul"] == qk
    else:
        assert r.kinds["matmul"] == ret + qk


def test_segnext_t_matches_published_figure():
    cfg = Config.fromfile(os.path.join(ROOT, "configs/segnext/segnext-t_512x512_ade20k.py"))
    model = build_segmentor(cfg.model)
    r = count_flops(model, (1, 3, 512, 512))
    assert r.total_params == 4_263_414
    assert abs(r.gflops - 6.6) / 6.6 <= 0.05, r.gflops           # MACs: 6.40
    # torchprofile's convention (what SegNeXt printed) reproduces the figure closely
    assert abs(r.totals["torchprofile"] / 1e9 - 6.6) / 6.6 <= 0.01, r.totals
    rows = {row["module"]: row for row in r.rows(2)}
    assert rows["backbone"]["gflops"] + rows["decode_head"]["gflops"] == pytest.approx(r.gflops)
    assert r.kinds["matmul"] == pytest.approx(0.302e9, rel=0.01)   # NMF (R=16, 7 eval steps)


def test_counting_leaves_the_model_untouched():
    model = Tiny()
    x = jt.array(np.random.RandomState(0).randn(1, 3, 5, 6).astype(np.float32))
    model.eval()
    before = model(x).numpy()
    count_flops(model, (1, 3, 5, 6), forward=lambda m, x: m(x))
    assert "execute" not in model.conv.__dict__
    assert jt.matmul is nn.matmul and not hasattr(nn.matmul, "__wrapped__")
    np.testing.assert_array_equal(model(x).numpy(), before)


def test_counting_leaves_jittors_api_as_it_found_it():
    from jseg_ret.ops import bilinear, kernels

    names = [(jt, "matmul"), (nn, "matmul"), (nn, "linear"), (nn, "bmm"), (nn, "interpolate"),
             (jt.Var, "__mul__"), (jt.Var, "__rmul__"), (jt.Var, "__matmul__"),
             (kernels, "fused_retention"), (bilinear, "bilinear_resize_nhwc")]
    before = [getattr(owner, attr) for owner, attr in names]
    count_flops(Tiny(), (1, 3, 5, 6), forward=lambda m, x: m(x))
    with pytest.raises(ZeroDivisionError):  # also when the forward fails half-way
        count_flops(Tiny(), (1, 3, 5, 6), forward=lambda m, x: (m(x), 1 / 0))
    after = [getattr(owner, attr) for owner, attr in names]
    assert all(a is b for a, b in zip(after, before)), \
        [f"{o.__name__}.{a}" for (o, a), x, y in zip(names, before, after) if x is not y]
