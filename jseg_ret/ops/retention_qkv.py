"""Retention from RMT's fused q|k|v product: (B, H, W, 3C) in, (B, H, W, C) out.

The heads of q, k and v sit side by side in the channels of one product. The differentiable
route (training, CUDA, ``impl='naive'``) splits them into (B·N, L, d) sequences with transposes
and calls ``retention_2d`` / ``retention_1d`` (rows, then columns, when ``decomposed``); on the
CPU without gradients the fused kernel reads the heads straight from the product and writes
the output map in place, with strides (``forward_strided`` in ``kernels/retention_cpu.h``) —
SegRet-T's per-head split and merge copies (about 90 layout kernels per forward) go away.
Same formula, same kernel arithmetic.
"""
import jittor as jt

from ..fast_path import fast_path_enabled
from .kernels import fused_available
from .kernels.function import source
from .retention import retention_1d, retention_2d

_SRC = """
typedef jseg_retention::idx_t I;
jseg_retention::Layout lq{(I)data["qo"], (I)data["qi"], (I)data["qh"], (I)data["qt"]};
jseg_retention::Layout lv{(I)data["vo"], (I)data["vi"], (I)data["vh"], (I)data["vt"]};
jseg_retention::Layout lo{(I)data["oo"], (I)data["oi"], (I)data["oh"], (I)data["ot"]};
jseg_retention::forward_strided<in0_type>(in0_p, in0_p + (I)data["koff"],
    in1_p + (I)data["voff"], in2_p, out0_p, out1_p, (int)data["BN"], (int)data["N"],
    (int)data["L"], (int)data["d"], (int)data["d"], (int)data["W"], (int)data["P"],
    lq, lq, lv, lo);
"""


def applies(qkv, impl="auto"):
    """CPU, float32, fast paths on, the fused kernel available and wanted, no gradient."""
    if impl not in ("auto", "fused") or jt.flags.use_cuda or not fast_path_enabled():
        return False
    if str(qkv.dtype) != "float32" or not fused_available():
        return False
    return bool(jt.flags.no_grad) or qkv.is_stop_grad()


def _layout(outer, inner, head, tok, prefix):
    return {prefix + "o": outer, prefix + "i": inner, prefix + "h": head, prefix + "t": tok}


def _pass(qkv, vsrc, voff, decay, seqs, n, length, d, p, lq, lv, lo, width=None):
    """One strided kernel call over ``seqs``·n sequences of ``length`` tokens, laid out in rows
    of ``width`` tokens for the decay's Manhattan distance (default: one line, |i − j|)."""
    b, h, w, c3 = qkv.shape
    data = dict(koff=c3 // 3, voff=voff, BN=seqs * n, N=n, L=length, d=d, P=p,
                W=width or length)
    data.update(_layout(*lq, "q"))
    data.update(_layout(*lv, "v"))
    data.update(_layout(*lo, "o"))
    o, _ = jt.code([(b, h, w, c3 // 3), (seqs * n, length)], [qkv.dtype, qkv.dtype],
                   [qkv, vsrc, decay], cpu_header=source("cpu"), cpu_src=_SRC,
                   data={k: float(v) for k, v in data.items()})
    return o


def strided_retention(qkv, decay, n, decomposed):
    """The CPU kernel route (no gradient): heads read from ``qkv`` in place, (B, H, W, C) out."""
    b, h, w, c3 = qkv.shape
    c = c3 // 3
    d = c // n
    decay = decay.float32().stop_grad()
    if not decomposed:  # whole map: sequences (b, head), tokens y·w + x; 2-D decay
        return _pass(qkv, qkv, 2 * c, decay, b, n, h * w, d, 1,
                     (h * w * c3, 0, d, c3), (h * w * c3, 0, d, c3), (h * w * c, 0, d, c),
                     width=w)
    # rows: sequences (b·h, head), tokens x; the output v' as a (b, h, w, c) map
    rows = _pass(qkv, qkv, 2 * c, decay, b * h, n, w, d, 1,
                 (w * c3, 0, d, c3), (w * c3, 0, d, c3), (w * c, 0, d, c))
    # columns: sequences (b, x, head), tokens y; values v' from the row pass
    return _pass(qkv, rows, 0, decay, b * w, n, h, d, w,
                 (h * w * c3, c3, d, w * c3), (h * w * c, c, d, w * c), (h * w * c, c, d, w * c))


def _split(qkv, decay, n, decomposed, impl):
    """The differentiable route: heads split by transposes, then ``retention_2d``/``_1d``."""
    b, h, w, c3 = qkv.shape
    c = c3 // 3
    d = c // n
    if decomposed:
        # rows: q, k, v heads-first in one transpose, (3, b·h, n, w, d)
        t = qkv.reshape(b, h, w, 3, n, d).permute(3, 0, 1, 4, 2, 5).reshape(3, b * h, n, w, d)
        v_rows = retention_1d(t[0], t[1], t[2], decay, impl=impl)
        # columns: q, k from qkv (one strided transpose each), values from the row pass
        q5 = qkv.reshape(b, h, w, 3, n, d)
        q_cols, k_cols = (q5[:, :, :, i].permute(0, 2, 3, 1, 4).reshape(b * w, n, h, d)
                          for i in (0, 1))
        v_cols = v_rows.reshape(b, h, n, w, d).permute(0, 3, 2, 1, 4).reshape(b * w, n, h, d)
        out = retention_1d(q_cols, k_cols, v_cols, decay, impl=impl)
        return out.reshape(b, w, n, h, d).permute(0, 3, 1, 2, 4).reshape(b, h, w, c)
    t = qkv.reshape(b, h * w, 3, n, d).permute(2, 0, 3, 1, 4)  # (3, b, n, L, d)
    out = retention_2d(t[0], t[1], t[2], decay, (h, w), impl=impl)
    return out.permute(0, 2, 1, 3).reshape(b, h, w, c)


def retention_qkv(qkv, decay, num_heads, decomposed, impl="auto"):
    """Retention of the q | d^-1/2·k | v map ``qkv`` (B, H, W, 3C) with ``num_heads`` heads and
    per-head ``decay`` (N,): whole-map (2-D Manhattan decay) or ``decomposed`` (rows, then
    columns). Returns (B, H, W, C)."""
    b, h, w, c3 = qkv.shape
    if c3 % 3 or (c3 // 3) % num_heads:
        raise ValueError(f"retention_qkv: {c3} channels are not q|k|v of {num_heads} equal "
                         f"heads each")
    if applies(qkv, impl):
        return strided_retention(qkv, decay, num_heads, decomposed)
    return _split(qkv, decay, num_heads, decomposed, impl)


__all__ = ["applies", "retention_qkv", "strided_retention"]
