"""SegNeXt-T against the reference PyTorch outputs (shared/fixtures/official/segnext_t_ade20k),
through tools/parity.py, and NMF2D's training gradient against the published PyTorch update
rules (plain autograd through every multiplicative update)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jseg_ret.models.decode_heads.ham_head import NMF2D
from tests.helpers.paths import ROOT

import jittor as jt

CONFIG = os.path.join(ROOT, "configs", "segnext", "segnext-t_512x512_ade20k.py")
TOL = 1e-4


def test_parity_tool_passes_on_official_fixture(shared_dir, tmp_path):
    fixture = os.path.join(shared_dir, "fixtures", "official", "segnext_t_ade20k")
    out_json = tmp_path / "parity.json"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "parity.py"), "--config", CONFIG,
           "--checkpoint", os.path.join(fixture, "checkpoint.pth"),
           "--input", os.path.join(fixture, "input.npy"),
           "--reference", os.path.join(fixture, "outputs.npz"),
           "--tol", str(TOL), "--json", str(out_json)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out_json.read_text())
    assert result["used_as_inputs"] == ["nmf_initial_bases"]
    rows = {r["name"]: r for r in result["results"]}
    expected = {f"backbone_out{i}" for i in range(4)} | {"decode_head_logits", "seg_logits"}
    assert set(rows) == expected
    for name, row in rows.items():
        print(f"{name}: relative error {row['rel_err']:.3e}")
        assert row["pass"] and row["rel_err"] <= TOL, row


def _published_nmf_torch(torch, x, bases, steps):
    """The published SegNeXt/mmseg NMF2D forward (spatial, inv_t = 1), without no_grad."""
    b, c, h, w = x.shape
    x = x.view(b, c, h * w)
    coef = torch.softmax(torch.bmm(x.transpose(1, 2), bases), dim=-1)
    for _ in range(steps):
        coef = coef * torch.bmm(x.transpose(1, 2), bases) / (
            coef.bmm(bases.transpose(1, 2).bmm(bases)) + 1e-6)
        bases = bases * torch.bmm(x, coef) / (bases.bmm(coef.transpose(1, 2).bmm(coef)) + 1e-6)
    coef = coef * torch.bmm(x.transpose(1, 2), bases) / (
        coef.bmm(bases.transpose(1, 2).bmm(bases)) + 1e-6)
    return torch.bmm(bases, coef.transpose(1, 2)).view(b, c, h, w)


@pytest.mark.torch
def test_nmf2d_training_gradient_matches_published_code():
    torch = pytest.importorskip("torch")
    rng = np.random.RandomState(0)
    x = np.maximum(rng.randn(2, 16, 6, 7), 0).astype(np.float32)
    bases = rng.rand(2, 16, 8).astype(np.float32)
    bases /= np.linalg.norm(bases, axis=1, keepdims=True)
    upstream = rng.randn(*x.shape).astype(np.float32)

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = _published_nmf_torch(torch, xt, torch.tensor(bases, dtype=torch.float64), steps=6)
    (yt * torch.tensor(upstream, dtype=torch.float64)).sum().backward()

    nmf = NMF2D(dict(MD_S=1, MD_R=8))
    nmf.train()  # 6 updates
    nmf.set_initial_bases(bases)
    xj = jt.array(x)
    yj = nmf(xj)
    gj = jt.grad((yj * jt.array(upstream)).sum(), xj)

    y_ref, g_ref = yt.detach().numpy(), xt.grad.numpy()
    assert np.abs(yj.numpy() - y_ref).max() / np.abs(y_ref).max() <= 1e-5
    rel = np.abs(gj.numpy() - g_ref).max() / np.abs(g_ref).max()
    assert rel <= 1e-4, rel

    # the check can tell: a one-step gradient (updates under no_grad) differs
    xt1 = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        b_t = torch.tensor(bases, dtype=torch.float64)
        coef = torch.softmax(torch.bmm(xt1.view(2, 16, -1).transpose(1, 2), b_t), dim=-1)
        for _ in range(6):
            xv = xt1.view(2, 16, -1)
            coef = coef * torch.bmm(xv.transpose(1, 2), b_t) / (
                coef.bmm(b_t.transpose(1, 2).bmm(b_t)) + 1e-6)
            b_t = b_t * torch.bmm(xv, coef) / (b_t.bmm(coef.transpose(1, 2).bmm(coef)) + 1e-6)
    xv = xt1.view(2, 16, -1)
    coef = coef * torch.bmm(xv.transpose(1, 2), b_t) / (coef.bmm(b_t.transpose(1, 2).bmm(b_t))
                                                       + 1e-6)
    y1 = torch.bmm(b_t, coef.transpose(1, 2)).view(2, 16, 6, 7)
    (y1 * torch.tensor(upstream, dtype=torch.float64)).sum().backward()
    assert np.abs(xt1.grad.numpy() - g_ref).max() / np.abs(g_ref).max() > 1e-2
