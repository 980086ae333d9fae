"""Retention from RMT's products: q|k (B, H, W, 2C) and v (B, H, W, C) in, (B, H, W, C) out,
plus an optional map of the output's shape (RMT adds its local enhancement of v there).

The heads of q and k sit side by side in the channels of one product; v is its own product
(RMT's local enhancement convolves v, which then needs no copy out of a wider map). The
differentiable route (training, CUDA, ``impl='naive'``) splits them into (B·N, L, d) sequences
with transposes and calls ``retention_2d`` / ``retention_1d`` (rows, then columns, when
``decomposed``); on the CPU without gradients the fused kernel reads the heads straight from the
maps and writes the output map in place, with strides (``forward_strided`` in
``kernels/retention_cpu.h``), adding the extra map as it writes — SegRet-T's per-head split and
merge copies (about 90 layout kernels per forward) and its separate additions go away. Same
formula, same kernel arithmetic.
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
jseg_retention::forward_strided<in0_type>(in0_p, in0_p + (I)data["koff"], in1_p, in2_p, out0_p,
    nullptr, (int)data["BN"], (int)data["N"], (int)data["L"], (int)data["d"], (int)data["d"],
    (int)data["W"], (int)data["P"], lq, lq, lv, lo, ADD_MAP);
"""


def applies(qk, v, impl="auto", add=None):
    """CPU, float32, fast paths on, the fused kernel available and wanted, no gradient."""
    if impl not in ("auto", "fused") or jt.flags.use_cuda or not fast_path_enabled():
        return False
    maps = [qk, v] + ([add] if add is not None else [])
    if any(str(m.dtype) != "float32" for m in maps) or not fused_available():
        return False
    return bool(jt.flags.no_grad) or all(m.is_stop_grad() for m in maps)


def _layout(outer, inner, head, tok, prefix):
    return {prefix + "o": outer, prefix + "i": inner, prefix + "h": head, prefix + "t": tok}


def _pass(qk, v, decay, seqs, n, length, d, p, lq, lv, lo, width=None, add=None):
    """One strided kernel call over ``seqs``·n sequences of ``length`` tokens, laid out in rows
    of ``width`` tokens for the decay's Manhattan distance (default: one line, |i − j|); ``add``
    (laid out as the output) is added to it."""
    b, h, w, c2 = qk.shape
    data = dict(koff=c2 // 2, BN=seqs * n, N=n, L=length, d=d, P=p, W=width or length)
    data.update(_layout(*lq, "q"))
    data.update(_layout(*lv, "v"))
    data.update(_layout(*lo, "o"))
    inputs = [qk, v, decay] + ([add] if add is not None else [])
    src = _SRC.replace("ADD_MAP", "in3_p" if add is not None else "nullptr")
    # no log-sum-exp output: it only serves the backward pass
    return jt.code((b, h, w, c2 // 2), qk.dtype, inputs, cpu_header=source("cpu"), cpu_src=src,
                   data={k: float(x) for k, x in data.items()})


def strided_retention(qk, v, decay, n, decomposed, add=None):
    """The CPU kernel route (no gradient): heads read from ``qk`` and ``v`` in place,
    (B, H, W, C) out, plus ``add`` (B, H, W, C) if given."""
    b, h, w, c2 = qk.shape
    c = c2 // 2
    d = c // n
    decay = decay.float32().stop_grad()
    if not decomposed:  # whole map: sequences (b, head), tokens y·w + x; 2-D decay
        return _pass(qk, v, decay, b, n, h * w, d, 1, (h * w * c2, 0, d, c2),
                     (h * w * c, 0, d, c), (h * w * c, 0, d, c), width=w, add=add)
    # rows: sequences (b·h, head), tokens x; the output v' as a (b, h, w, c) map
    rows = _pass(qk, v, decay, b * h, n, w, d, 1, (w * c2, 0, d, c2), (w * c, 0, d, c),
                 (w * c, 0, d, c))
    # columns: sequences (b, x, head), tokens y; values v' from the row pass
    return _pass(qk, rows, decay, b * w, n, h, d, w, (h * w * c2, c2, d, w * c2),
                 (h * w * c, c, d, w * c), (h * w * c, c, d, w * c), add=add)


def _split(qk, v, decay, n, decomposed, impl):
    """The differentiable route: heads split by transposes, then ``retention_2d``/``_1d``."""
    b, h, w, c2 = qk.shape
    c = c2 // 2
    d = c // n
    if decomposed:
        # rows: q and k heads-first in one transpose, (2, b·h, n, w, d); v likewise
        t = qk.reshape(b, h, w, 2, n, d).permute(3, 0, 1, 4, 2, 5).reshape(2, b * h, n, w, d)
        v_in = v.reshape(b, h, w, n, d).permute(0, 1, 3, 2, 4).reshape(b * h, n, w, d)
        v_rows = retention_1d(t[0], t[1], v_in, decay, impl=impl)
        # columns: q, k from qk (one strided transpose each), values from the row pass
        q5 = qk.reshape(b, h, w, 2, n, d)
        q_cols, k_cols = (q5[:, :, :, i].permute(0, 2, 3, 1, 4).reshape(b * w, n, h, d)
                          for i in (0, 1))
        v_cols = v_rows.reshape(b, h, n, w, d).permute(0, 3, 2, 1, 4).reshape(b * w, n, h, d)
        out = retention_1d(q_cols, k_cols, v_cols, decay, impl=impl)
        return out.reshape(b, w, n, h, d).permute(0, 3, 1, 2, 4).reshape(b, h, w, c)
    t = qk.reshape(b, h * w, 2, n, d).permute(2, 0, 3, 1, 4)  # (2, b, n, L, d)
    v_in = v.reshape(b, h * w, n, d).permute(0, 2, 1, 3)
    out = retention_2d(t[0], t[1], v_in, decay, (h, w), impl=impl)
    return out.permute(0, 2, 1, 3).reshape(b, h, w, c)


def retention_qkv(qk, v, decay, num_heads, decomposed, impl="auto", add=None):
    """Retention of the q | d^-1/2·k map ``qk`` (B, H, W, 2C) and the values ``v``
    (B, H, W, C) with ``num_heads`` heads and per-head ``decay`` (N,): whole-map (2-D
    Manhattan decay) or ``decomposed`` (rows, then columns). Returns (B, H, W, C), plus
    ``add`` (B, H, W, C) when given."""
    if len(qk.shape) != 4 or len(v.shape) != 4 or tuple(qk.shape[:3]) != tuple(v.shape[:3]):
        raise ValueError(f"retention_qkv: qk {tuple(qk.shape)} and v {tuple(v.shape)} must be "
                         f"(B, H, W, channels) maps of one size")
    c2, c = qk.shape[3], v.shape[3]
    if c2 != 2 * c or c % num_heads:
        raise ValueError(f"retention_qkv: {c2} channels are not q|k of {num_heads} equal heads "
                         f"each as wide as v's {c} channels")
    if add is not None and tuple(add.shape) != tuple(v.shape):
        raise ValueError(f"retention_qkv: add {tuple(add.shape)} must have the output's shape "
                         f"{tuple(v.shape)}")
    if applies(qk, v, impl, add):
        return strided_retention(qk, v, decay, num_heads, decomposed, add)
    out = _split(qk, v, decay, num_heads, decomposed, impl)
    return out + add if add is not None else out


__all__ = ["applies", "retention_qkv", "strided_retention"]
