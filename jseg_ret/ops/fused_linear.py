"""Inference-only fused maps: Linear + bias (+ GELU/ReLU) as one CPU op, and sums of maps
(+ bias, + act) alone.

Jittor runs ``nn.linear`` as a GEMM then a broadcast bias add, and the exact GELU as a
single-threaded element-wise kernel (what that cost: docs/performance.md).
``kernels/fused_linear_cpu.h`` computes act(x wᵀ + b) with oneDNN's
sgemm over row blocks and applies the bias and GELU to each block while it is in cache, on both
cores; ``mlp_act`` runs Linear-act-Linear on blocks of rows with the hidden activations in
cache; ``bias_act`` does the bias and act after a convolution, ``sum_act`` for a sum of maps
(Jittor's own element-wise kernels run on one thread on the CPU). They have no gradient: only
``jseg_ret.models.fuse_for_inference`` installs them (``FusedLinear``, ``BiasAct``), and each
falls back to the plain formula where the kernel does not apply (CUDA, other dtypes, fast paths
off, or a gradient needed).
"""
import jittor as jt
from jittor import nn

from ..fast_path import fast_path_enabled
from .kernels.sources import kernel_source
from .mkl_conv import mkl_ops

ACTS = {None: 0, "gelu": 1, "relu": 2}  # kernel epilogues; the numbers are jseg_fused_linear::Act
# in0 = x (m, k) viewed as rows, in1 = w (n, k), in2 = b (n)
_LINEAR_SRC = """jseg_fused_linear::linear<{act}>(in0_p, in1_p, in2_p, out0_p,
    in0->num / in0_shape{last}, in1_shape0, in1_shape1);"""
# in0 = x (m, c) viewed as rows, in1 = w1 (f, c), in2 = b1 (f), in3 = w2 (o, f), in4 = b2 (o)
_MLP_SRC = """jseg_fused_linear::mlp<{act}>(in0_p, in1_p, in2_p, in3_p, in4_p, out0_p,
    in0->num / in0_shape{last}, in1_shape1, in1_shape0, in3_shape0);"""
# in0 = x (n, c, h, w) or, pixels-major, (n, h, w, c); in1 = w (o, c), in2 = b (o)
_LINEAR_CF_SRC = """jseg_fused_linear::linear_cf<{act}>(in0_p, in1_p, in2_p, out0_p, in0_shape0,
    in1_shape0, in1_shape1, in0->num / (in0_shape0 * in1_shape1), {pixels_major});"""
_BIAS_ACT_SRC = """jseg_fused_linear::bias_act<{act}>(in0_p, in1_p, out0_p,
    in0->num / in0_shape{last}, in0_shape{last});"""
# in0 = x, in1 .. in{nadd} = the maps added, then the bias if any
_SUM_ACT_SRC = """const float* adds[] = {{{adds}}};
jseg_fused_linear::sum_bias_act<{act}>(in0_p, adds, {nadd}, {bias}, out0_p,
    in0->num / in0_shape{last}, in0_shape{last});"""


def _header():  # the kernel source file (read once, cached)
    return kernel_source("fused_linear_cpu.h")


def _check_act(act, owner):
    if act not in ACTS:
        raise ValueError(f"{owner}: act={act!r}; expected one of {sorted(ACTS, key=str)}")


def applies(x, *params):
    """CPU with oneDNN, float32, fast paths on, and no gradient needed."""
    if not fast_path_enabled() or mkl_ops() is None or str(x.dtype) != "float32":
        return False
    if any(str(p.dtype) != "float32" for p in params):
        return False
    return bool(jt.flags.no_grad) or (x.is_stop_grad() and all(p.is_stop_grad() for p in params))


def linear_act(x, weight, bias, act=None):
    """act(x @ weight.T + bias) over the last axis of ``x`` (weight (n, k), bias (n)): the CPU
    kernel (no gradient; the caller checks ``applies``)."""
    _check_act(act, "linear_act")
    if x.shape[-1] != weight.shape[1] or bias.shape != (weight.shape[0],):
        raise ValueError(f"linear_act: x {tuple(x.shape)}, weight {tuple(weight.shape)}, bias "
                         f"{tuple(bias.shape)}; expected x (..., k), weight (n, k), bias (n,)")
    src = _LINEAR_SRC.format(act=ACTS[act], last=x.ndim - 1)
    return jt.code((*x.shape[:-1], weight.shape[0]), x.dtype, [x, weight, bias],
                   cpu_header=_header(), cpu_src=src)


def mlp_act(x, w1, b1, w2, b2, act):
    """act(x @ w1.T + b1) @ w2.T + b2 over the last axis of ``x`` (w1 (f, c), w2 (o, f)), the
    hidden activations kept in cache: the CPU kernel (no gradient; the caller checks
    ``applies``)."""
    _check_act(act, "mlp_act")
    f, c = w1.shape
    if x.shape[-1] != c or b1.shape != (f,) or w2.shape[1] != f or b2.shape != (w2.shape[0],):
        raise ValueError(f"mlp_act: x {tuple(x.shape)}, w1 {tuple(w1.shape)}, b1 "
                         f"{tuple(b1.shape)}, w2 {tuple(w2.shape)}, b2 {tuple(b2.shape)}; "
                         f"expected x (..., c), w1 (f, c), b1 (f,), w2 (o, f), b2 (o,)")
    src = _MLP_SRC.format(act=ACTS[act], last=x.ndim - 1)
    return jt.code((*x.shape[:-1], w2.shape[0]), x.dtype, [x, w1, b1, w2, b2],
                   cpu_header=_header(), cpu_src=src)


def linear_channels_first(x, weight, bias, act=None, channels_last_input=False):
    """act(weight @ x[i] + bias) per sample of ``x`` (N, C, H, W), or of ``x`` (N, H, W, C)
    when ``channels_last_input``: a 1×1 conv to NCHW maps as one GEMM per sample (weight (O, C),
    bias (O)); the CPU kernel (no gradient). Output (N, O, H, W)."""
    _check_act(act, "linear_channels_first")
    c_axis, spatial = (3, x.shape[1:3]) if channels_last_input else (1, x.shape[2:])
    if x.ndim != 4 or x.shape[c_axis] != weight.shape[1] or bias.shape != (weight.shape[0],):
        layout = "(N, H, W, C)" if channels_last_input else "(N, C, H, W)"
        raise ValueError(f"linear_channels_first: x {tuple(x.shape)}, weight "
                         f"{tuple(weight.shape)}, bias {tuple(bias.shape)}; expected x {layout}, "
                         f"weight (O, C), bias (O,)")
    src = _LINEAR_CF_SRC.format(act=ACTS[act], pixels_major=str(channels_last_input).lower())
    return jt.code((x.shape[0], weight.shape[0], *spatial), x.dtype, [x, weight, bias],
                   cpu_header=_header(), cpu_src=src)


def bias_act(x, bias, act=None):
    """act(x + bias), ``bias`` over the last axis of ``x``: the CPU kernel (no gradient)."""
    _check_act(act, "bias_act")
    if bias.shape != (x.shape[-1],):
        raise ValueError(f"bias_act: bias {tuple(bias.shape)} for x {tuple(x.shape)}; expected "
                         f"({x.shape[-1]},)")
    src = _BIAS_ACT_SRC.format(act=ACTS[act], last=x.ndim - 1)
    return jt.code(x.shape, x.dtype, [x, bias], cpu_header=_header(), cpu_src=src)


def sum_act(maps, bias=None, act=None):
    """act(Σ maps + bias) for maps of one shape, ``bias`` over the last axis (optional): the CPU
    kernel (no gradient; the caller checks ``applies``)."""
    _check_act(act, "sum_act")
    shape = tuple(maps[0].shape)
    if any(tuple(m.shape) != shape for m in maps[1:]):
        raise ValueError(f"sum_act: maps {[tuple(m.shape) for m in maps]} must share one shape")
    if bias is not None and bias.shape != (shape[-1],):
        raise ValueError(f"sum_act: bias {tuple(bias.shape)} for maps {shape}; expected "
                         f"({shape[-1]},)")
    nadd = len(maps) - 1
    src = _SUM_ACT_SRC.format(
        adds=", ".join(f"in{i}_p" for i in range(1, nadd + 1)) or "nullptr", nadd=nadd,
        bias=f"in{nadd + 1}_p" if bias is not None else "nullptr", act=ACTS[act],
        last=len(shape) - 1)
    inputs = list(maps) + ([bias] if bias is not None else [])
    return jt.code(shape, maps[0].dtype, inputs, cpu_header=_header(), cpu_src=src)


def add_maps(*maps):
    """Σ maps: ``sum_act``'s two-threaded pass on the CPU without gradients (float32, one
    shape), Jittor's sum elsewhere (training, CUDA)."""
    if len(maps) > 1 and applies(*maps) and len({tuple(m.shape) for m in maps}) == 1:
        return sum_act(maps)
    total = maps[0]
    for m in maps[1:]:
        total = total + m
    return total


def _constant(v):
    return jt.array(v.numpy()).stop_grad()


class FusedLinear(nn.Module):
    """act(x @ weight.T + bias) over the last axis (inference only, built by
    ``fuse_for_inference``). ``activation`` is the module replaced (its ``execute`` is the
    fallback formula); ``act`` names the kernel's epilogue for it (None, "gelu" or "relu").
    Without bias and activation it is the plain product (nothing to fuse). With
    ``out_channels_first`` the input is (N, H, W, C) and the output (N, O, H, W)."""

    def __init__(self, weight, bias=None, activation=None, act=None, out_channels_first=False):
        _check_act(act, "FusedLinear")
        if (activation is None) != (act is None):
            raise ValueError("FusedLinear: give both activation (the module) and act (its "
                             f"kernel name), or neither; got {activation!r}, {act!r}")
        self.weight = _constant(weight.reshape(weight.shape[0], -1))
        self.bias = _constant(bias) if bias is not None else None
        self.activation = activation
        self.act = act
        self.out_channels_first = bool(out_channels_first)

    @classmethod
    def from_linear(cls, linear, activation=None, act=None):
        """From an ``nn.Linear`` or a 1×1 channels-last ``bricks.Conv2d`` (weight (O, C, 1, 1);
        its ``channels_first_out`` carries over)."""
        return cls(linear.weight, getattr(linear, "bias", None), activation, act,
                   getattr(linear, "channels_first_out", False))

    def execute(self, x):
        if self.bias is not None and applies(x, self.weight, self.bias):
            if self.out_channels_first:
                return linear_channels_first(x, self.weight, self.bias, self.act,
                                             channels_last_input=True)
            return linear_act(x, self.weight, self.bias, self.act)
        y = nn.linear(x, self.weight, self.bias)
        y = self.activation(y) if self.activation is not None else y
        return y.permute(0, 3, 1, 2) if self.out_channels_first else y


class FusedMLP(nn.Module):
    """fc2(activation(fc1(x))) for two biased ``nn.Linear`` as one op with the hidden
    activations kept in cache (inference only, built by ``fuse_for_inference``); ``act`` names
    ``activation`` for the kernel. Falls back to the formula where the kernel does not apply."""

    def __init__(self, fc1, activation, act, fc2):
        _check_act(act, "FusedMLP")
        if fc1.bias is None or fc2.bias is None:
            raise ValueError("FusedMLP: both Linear layers need a bias")
        self.w1, self.b1 = _constant(fc1.weight), _constant(fc1.bias)
        self.w2, self.b2 = _constant(fc2.weight), _constant(fc2.bias)
        self.activation = activation
        self.act = act

    def execute(self, x):
        if applies(x, self.w1, self.b1, self.w2, self.b2):
            return mlp_act(x, self.w1, self.b1, self.w2, self.b2, self.act)
        return nn.linear(self.activation(nn.linear(x, self.w1, self.b1)), self.w2, self.b2)


class PointwiseConvNCHW(nn.Module):
    """A 1×1, stride-1, ungrouped ``conv`` (with bias) on NCHW maps as one GEMM per sample with
    the bias in its op (inference only; oneDNN's NCHW convolution reorders in and out)."""

    def __init__(self, conv):
        self.weight = _constant(conv.weight.reshape(conv.weight.shape[0], -1))
        self.bias = _constant(conv.bias) if conv.bias is not None else jt.zeros(
            (self.weight.shape[0],), "float32").stop_grad()  # a free epilogue
        self.conv = conv

    def execute(self, x):
        if x.ndim == 4 and applies(x, self.weight, self.bias):
            return linear_channels_first(x, self.weight, self.bias)
        return self.conv(x)


class BiasAct(nn.Module):
    """activation(conv(x) + bias) for a channels-last ``conv`` whose bias is added here (one
    pass, with the activation) instead of by the conv (inference only)."""

    def __init__(self, conv, activation, act):
        _check_act(act, "BiasAct")
        if getattr(conv, "bias", None) is None or not getattr(conv, "channels_last", False):
            raise ValueError(f"BiasAct: {type(conv).__name__} must be a channels-last conv with "
                             f"a bias to take over")
        self.bias = _constant(conv.bias)
        conv.bias = None
        self.conv = conv
        self.activation = activation
        self.act = act

    def execute(self, x):
        y = self.conv(x)
        if applies(y, self.bias):
            return bias_act(y, self.bias, self.act)
        return self.activation(y + self.bias)


__all__ = ["ACTS", "BiasAct", "FusedLinear", "FusedMLP", "PointwiseConvNCHW", "add_maps",
           "applies", "bias_act", "linear_act", "linear_channels_first", "mlp_act", "sum_act"]
