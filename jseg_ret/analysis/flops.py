"""FLOPs (multiply-accumulates) and parameters of a Jittor model, per module.

The main figure, ``macs``, is what SegNeXt's published GFLOPs are (its ``tools/get_flops.py``
prints ``torchprofile.profile_macs``): multiply-accumulates of

- convolutions: output elements × (C_in / groups) × k_h × k_w, bias not counted (so a depthwise
  k×k conv costs H·W·C·k²);
- linear layers: output elements × in_features, bias not counted;
- every matrix product the model makes outside those layers — ``jt.matmul``, ``nn.bmm``,
  ``@``, functional ``nn.linear`` — (..., n, m) @ (..., m, p) costs batch·n·m·p: NMF's updates,
  DNL's attention, a functional (fused) projection;
- the fused retention kernel, analytically: softmax(q kᵀ + bias) v over L tokens with key dim d
  and value dim e costs B·N·L²·(d + e) (q kᵀ and P v; the naive path's two ``jt.matmul`` calls
  count the same through the matmul rule).

Nothing else goes into ``macs``: no norms, activations, element-wise products, softmax, resizes.

Two more conventions are counted in the same pass, to explain differences with published tables:

- ``torchprofile`` (zhijian-liu/torchprofile 0.0.4's ``handlers.py``, the counter that
  SegNeXt's ``tools/get_flops.py`` prints): ``macs`` plus every element-wise multiplication the
  model code writes (``a * b``: output elements — layer scale, MSCA's gate, NMF's multiplicative
  update), BN/GN/LN/IN with affine parameters (output elements), average pooling (output
  elements) and bilinear upsampling (4 × output elements — the final resize of the logits to the
  input size is most of it); bias adds, additions, divisions, activations and softmax count 0.
- ``mmcv`` (``mmcv.cnn.get_model_complexity_info``, module hooks only): convolutions with their
  bias adds (+ output elements), linear layers, BN/GN/LN/IN 2 × elements (1 × without affine),
  ReLU-family modules 1 × elements, pooling input elements, ``nn.Upsample`` modules output
  elements; functional calls — matrix products (NMF, retention, attention), ``F.interpolate``,
  functional activations, element-wise products — are invisible to it, and so is GELU.

How: every module's ``execute`` is wrapped on the instance for the duration of the count (a
stack of the modules being executed, restored afterwards), and the functional matrix products
(``jt.matmul`` and friends, ``jseg_ret.ops.kernels.fused_retention``) and ``Var.__mul__`` are
patched. Costs of a leaf layer come from its type and the input/output shapes; a functional
product is charged to the innermost module executing it (products inside a counted leaf layer,
e.g. ``nn.Linear``'s own matmul, are not charged twice). The model runs under ``jt.no_grad()``
without a single ``sync``: Jittor is lazy, so shapes propagate through the graph and nothing is
computed — counting SegRet-L at 1024×2048 takes seconds and no memory.
"""
import contextlib
import math
import os
import sys

import jittor as jt
from jittor import nn

from ..bricks import GELU, BatchNorm2d, Dropout2d, DropPath, LayerNorm2d
from ..ops import bilinear, fused_linear, retention_qkv
from ..ops import kernels as retention_kernels

CONVENTIONS = ("macs", "torchprofile", "mmcv")
_JITTOR_DIR = os.path.dirname(os.path.abspath(jt.__file__))  # Jittor's own op implementations


def _numel(shape):
    return int(math.prod(int(s) for s in shape))


def _first_var(obj):
    if isinstance(obj, jt.Var):
        return obj
    if isinstance(obj, (list, tuple)):
        for o in obj:
            v = _first_var(o)
            if v is not None:
                return v
    if isinstance(obj, dict):
        return _first_var(list(obj.values()))
    return None


def matmul_macs(a_shape, b_shape):
    """MACs of ``jt.matmul(a, b)`` with numpy/torch broadcasting rules."""
    a, b = list(a_shape), list(b_shape)
    if len(a) == 1 and len(b) == 1:
        return a[0]
    if len(b) == 1:  # (..., n, m) @ (m,)
        return _numel(a)
    if len(a) == 1:  # (m,) @ (..., m, p)
        return _numel(b)
    n, m = a[-2:]
    p = b[-1]
    batch_a, batch_b = a[:-2], b[:-2]
    nd = max(len(batch_a), len(batch_b))
    batch_a = [1] * (nd - len(batch_a)) + batch_a
    batch_b = [1] * (nd - len(batch_b)) + batch_b
    batch = _numel(max(x, y) for x, y in zip(batch_a, batch_b))
    return batch * n * m * p


# ------------------------------------------------------------------------------ leaf layers
# (kind, {convention: count}) for a module from its inputs and output; None: not a leaf layer.
_CONV_TYPES = (nn.Conv, nn.Conv1d, nn.Conv3d)
_CONVT_TYPES = tuple(t for t in (getattr(nn, "ConvTranspose", None),
                                 getattr(nn, "ConvTranspose3d", None)) if t is not None)
_BN_TYPES = (nn.BatchNorm, BatchNorm2d)
_GN_TYPES = (nn.GroupNorm,)
_LN_TYPES = (nn.LayerNorm, LayerNorm2d)
_IN_TYPES = (nn.InstanceNorm,)
_RELU_NAMES = {"Relu", "ReLU", "ReLU6", "Leaky_relu", "LeakyReLU", "ELU", "PReLU", "Relu6"}
_LEAKY_NAMES = {"Leaky_relu", "LeakyReLU"}
_FREE_TYPES = (GELU, DropPath, Dropout2d, nn.Dropout, nn.Identity, nn.Sigmoid, nn.Tanh)
_POOL_TYPES = tuple(t for t in (getattr(nn, "Pool", None), getattr(nn, "AdaptiveAvgPool2d", None),
                                getattr(nn, "AdaptiveMaxPool2d", None),
                                getattr(nn, "AvgPool2d", None), getattr(nn, "MaxPool2d", None))
                    if isinstance(t, type))
_UPSAMPLE_TYPES = tuple(t for t in (getattr(nn, "Upsample", None), getattr(nn, "Resize", None))
                        if isinstance(t, type))


def _affine(m):
    w = getattr(m, "weight", None)
    return isinstance(w, jt.Var) or bool(getattr(m, "affine", False))


def leaf_cost(m, args, out):
    """(kind, {convention: count}) for leaf layer ``m``; None if ``m`` is not a leaf layer."""
    x = _first_var(args)
    y = _first_var(out)
    if x is None or y is None:
        return None
    xs, ys = tuple(x.shape), tuple(y.shape)
    if isinstance(m, _CONV_TYPES):
        macs = _numel(ys) * _numel(m.weight.shape[1:])
        bias = _numel(ys) if getattr(m, "bias", None) is not None else 0
        kind = "dwconv" if getattr(m, "groups", 1) > 1 else "conv"
        return kind, {"macs": macs, "torchprofile": macs, "mmcv": macs + bias}
    if _CONVT_TYPES and isinstance(m, _CONVT_TYPES):
        macs = _numel(xs) * _numel(m.weight.shape[1:])
        bias = _numel(ys) if getattr(m, "bias", None) is not None else 0
        return "conv", {"macs": macs, "torchprofile": macs, "mmcv": macs + bias}
    if isinstance(m, nn.Linear):
        macs = _numel(ys) * int(m.weight.shape[1])
        return "linear", {"macs": macs, "torchprofile": macs, "mmcv": macs}
    if isinstance(m, _BN_TYPES + _GN_TYPES + _IN_TYPES + _LN_TYPES):
        n = _numel(xs)
        return "norm", {"macs": 0, "torchprofile": n if _affine(m) else 0,
                        "mmcv": n * (2 if _affine(m) else 1)}
    name = type(m).__name__
    if name in _RELU_NAMES:
        n = _numel(ys)
        return "act", {"macs": 0, "torchprofile": n if name in _LEAKY_NAMES else 0, "mmcv": n}
    if isinstance(m, _FREE_TYPES) or name in {"Softmax", "SiLU", "GELU"}:
        return "act", {"macs": 0, "torchprofile": 0, "mmcv": 0}
    if _POOL_TYPES and isinstance(m, _POOL_TYPES):
        avg = "avg" in (str(getattr(m, "op", "")) + name).lower() or "Adaptive" in name
        return "pool", {"macs": 0, "torchprofile": _numel(ys) if avg else 0, "mmcv": _numel(xs)}
    if _UPSAMPLE_TYPES and isinstance(m, _UPSAMPLE_TYPES):
        bilinear = "linear" in str(getattr(m, "mode", "nearest"))
        return "resize", {"macs": 0, "torchprofile": 4 * _numel(ys) if bilinear else 0,
                          "mmcv": _numel(ys)}
    return None


# ------------------------------------------------------------------------------ the counter
class FlopReport:
    """Result of :func:`count_flops`. Counts are integers (MACs, not 2× FLOPs)."""

    def __init__(self, own, kinds, params, totals, input_shape, module_types):
        self.own = own                  # module name -> {convention: count} charged to it
        self.kinds = kinds              # op kind -> MACs ("conv", "dwconv", "linear", ...)
        self.params = params            # module name -> trainable parameters it owns directly
        self.totals = totals            # convention -> total count
        self.input_shape = tuple(input_shape)
        self.module_types = module_types

    @property
    def macs(self):
        return self.totals["macs"]

    @property
    def gflops(self):
        """GFLOPs as SegNeXt/mmseg papers report them (= GMACs)."""
        return self.totals["macs"] / 1e9

    @property
    def total_params(self):
        return sum(self.params.values())

    def subtree(self, prefix, convention="macs"):
        """(MACs, params) of module ``prefix`` and everything below it ('' = whole model)."""
        def under(name):
            return prefix == "" or name == prefix or name.startswith(prefix + ".")
        macs = sum(c[convention] for n, c in self.own.items() if under(n))
        params = sum(p for n, p in self.params.items() if under(n))
        return macs, params

    def rows(self, max_depth=2, convention="macs"):
        """Table rows for modules down to ``max_depth`` levels ('backbone', 'backbone.patch_embed',
        ...). A list of *different* modules (``nn.ModuleList``/``Sequential`` whose children differ
        in type or parameter count, e.g. RMT's ``layers`` = its four stages) is looked through: it
        gets its own row and its children count as the same level; a list of identical repeated
        blocks is one row."""
        names = set(self.own) | set(self.params) | set(self.module_types)
        children = {}
        for name in names:
            if name:
                parent = name.rsplit(".", 1)[0] if "." in name else ""
                children.setdefault(parent, []).append(name)

        def transparent(name):
            if self.module_types.get(name) not in ("Sequential", "ModuleList"):
                return False
            kids = children.get(name, [])
            sig = {(self.module_types.get(k), self.subtree(k)[1]) for k in kids}
            return len(kids) > 1 and len(sig) > 1

        rows = []
        total, _ = self.subtree("", convention)

        def visit(name, depth):
            for kid in sorted(children.get(name, []), key=_natural_key):
                macs, params = self.subtree(kid, convention)
                if macs == 0 and params == 0:
                    continue
                rows.append({"module": kid, "depth": depth,
                             "type": self.module_types.get(kid, ""), "params": params,
                             "gflops": macs / 1e9,
                             "percent": 100.0 * macs / total if total else 0.0})
                if transparent(kid):
                    visit(kid, depth)
                elif depth < max_depth:
                    visit(kid, depth + 1)

        visit("", 1)
        return rows

    def to_dict(self, max_depth=2):
        return {"input_shape": list(self.input_shape), "params": self.total_params,
                "gflops": self.gflops,
                "conventions_gflops": {k: v / 1e9 for k, v in self.totals.items()},
                "by_kind_gflops": {k: v / 1e9 for k, v in sorted(self.kinds.items())},
                "modules": self.rows(max_depth)}


def _natural_key(name):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in name.split(".")]


class _Counter:
    def __init__(self, model):
        self.model = model
        self.stack = []     # (name, is_leaf) of modules executing, innermost last
        self.suppress = 0   # > 0 inside a counted functional op (its own internals are not ops)
        self.own = {}
        self.kinds = {}
        self.totals = {c: 0 for c in CONVENTIONS}

    def charge(self, name, kind, counts):
        own = self.own.setdefault(name, {c: 0 for c in CONVENTIONS})
        for c in CONVENTIONS:
            own[c] += int(counts.get(c, 0))
            self.totals[c] += int(counts.get(c, 0))
        if counts.get("macs"):
            self.kinds[kind] = self.kinds.get(kind, 0) + int(counts["macs"])
        elif counts.get("torchprofile"):  # the extras of torchprofile's convention, by kind
            key = f"{kind}(torchprofile only)"
            self.kinds[key] = self.kinds.get(key, 0) + int(counts["torchprofile"])

    def inside_leaf(self):
        return bool(self.stack) and self.stack[-1][1]

    def current(self):
        return self.stack[-1][0] if self.stack else ""

    # ------------------------------------------------------------------ module wrapping
    def wrap(self, name, m):
        orig = m.execute
        counter = self

        def execute(*args, **kw):
            is_leaf = leaf_probe(m)
            counter.stack.append((name, is_leaf))
            try:
                out = orig(*args, **kw)
            finally:
                counter.stack.pop()
            if is_leaf and not counter.inside_leaf() and not counter.suppress:
                cost = leaf_cost(m, args, out)
                if cost is not None:
                    counter.charge(name, *cost)
            return out

        m.__dict__["execute"] = execute

    # ------------------------------------------------------------------ functional ops
    def functional(self, kind, cost_fn, fn):
        counter = self

        def wrapped(*args, **kw):
            active = not counter.suppress and not counter.inside_leaf()
            counter.suppress += 1
            try:
                out = fn(*args, **kw)
            finally:
                counter.suppress -= 1
            if active:
                cost = cost_fn(*args, out=out, **kw)
                if not isinstance(cost, dict):
                    cost = {"macs": cost, "torchprofile": cost}
                counter.charge(counter.current(), kind, cost)
            return out

        wrapped.__wrapped__ = fn
        return wrapped

    def mul(self, fn):
        counter = self

        def wrapped(a, b):
            out = fn(a, b)
            if not counter.suppress and not counter.inside_leaf() and isinstance(out, jt.Var):
                caller = os.path.abspath(sys._getframe(1).f_code.co_filename)
                if not caller.startswith(_JITTOR_DIR):  # the model's code, not Jittor's internals
                    counter.charge(counter.current(), "mul", {"torchprofile": _numel(out.shape)})
            return out

        return wrapped


def leaf_probe(m):
    """Whether ``m`` is a leaf layer whose cost comes from its type (products inside it are not
    charged again)."""
    return isinstance(m, _CONV_TYPES + _CONVT_TYPES + (nn.Linear,) + _BN_TYPES + _GN_TYPES
                      + _LN_TYPES + _IN_TYPES + _FREE_TYPES + _POOL_TYPES + _UPSAMPLE_TYPES) \
        or type(m).__name__ in _RELU_NAMES | {"Softmax", "SiLU", "GELU"}


def _shape(v):
    return tuple(v.shape)


def _mm_cost(a, b, *_, **__):
    return matmul_macs(_shape(a), _shape(b))


def _mm_t_cost(a, b, *_, **__):  # a @ bᵀ
    bs = _shape(b)
    return matmul_macs(_shape(a), bs[:-2] + (bs[-1], bs[-2]))


def _linear_cost(x, weight, *_, **__):
    return _numel(x.shape) * int(weight.shape[0])


def _mlp_cost(x, w1, b1, w2, *_, **__):
    rows = _numel(x.shape) // int(x.shape[-1])
    return rows * (_numel(w1.shape) + _numel(w2.shape))


def _baddbmm_cost(inp, b1, b2, *_, **__):
    return matmul_macs(_shape(b1), _shape(b2))


def _retention_cost(q, k, v, *_, **__):
    b, n, length, d = _shape(q)
    return b * n * length * length * (d + int(v.shape[-1]))


def _retention_qkv_cost(qk, v, decay, n, decomposed, *_, **__):
    """``ops.retention_qkv``'s kernel route: rows then columns, or the whole map."""
    b, h, w, c = _shape(v)
    dd = 2 * (c // n)  # d + e
    return b * n * (h * w * w + w * h * h) * dd if decomposed else b * n * (h * w) ** 2 * dd


def _interpolate_cost(*args, out=None, **kw):
    """Functional resize: 4 × output elements for bilinear in torchprofile's convention (its
    ``upsample_bilinear2d`` handler), nothing else anywhere (mmcv sees no functional call)."""
    mode = kw.get("mode", args[3] if len(args) > 3 else "bilinear")  # Jittor's default
    y = _first_var(out)
    n = _numel(y.shape) if y is not None and "linear" in str(mode) else 0
    return {"macs": 0, "torchprofile": 4 * n}


def _resize_sum_cost(maps, size, *_, out=None, **__):
    """``ops.bilinear.resize_sum_nhwc``: as a bilinear ``interpolate`` of each map not already
    of the output's size (the sum itself, like every addition, is not counted)."""
    y = _first_var(out)
    resized = sum(tuple(m.shape[1:3]) != tuple(int(v) for v in size) for m in maps)
    return {"macs": 0, "torchprofile": 4 * _numel(y.shape) * resized if y is not None else 0}


def _bilinear_cost(*args, out=None, **kw):
    """jseg_ret's CPU bilinear kernel (``ops.bilinear``): as a bilinear ``interpolate``."""
    y = _first_var(out)
    return {"macs": 0, "torchprofile": 4 * _numel(y.shape) if y is not None else 0}


@contextlib.contextmanager
def _patched(counter):
    """Wrap module executes and patch functional products for the duration of the count."""

    wrapped_modules = []
    for name, m in counter.model.named_modules():
        if "execute" in m.__dict__:
            continue  # already wrapped (shared instance) or a custom per-instance execute
        counter.wrap(name, m)
        wrapped_modules.append(m)
    patches = []

    def patch(owner, attr, new):
        if hasattr(owner, attr):
            patches.append((owner, attr, getattr(owner, attr)))
            setattr(owner, attr, new)

    mm = counter.functional("matmul", _mm_cost, nn.matmul)
    patch(nn, "matmul", mm)
    patch(jt, "matmul", mm)
    patch(jt.Var, "matmul", mm)
    patch(jt.Var, "__matmul__", mm)
    bmm = counter.functional("matmul", _mm_cost, nn.bmm)
    patch(nn, "bmm", bmm)
    if getattr(jt, "bmm", None) is not None:
        patch(jt, "bmm", bmm)
    mmt = counter.functional("matmul", _mm_t_cost, nn.matmul_transpose)
    patch(nn, "matmul_transpose", mmt)
    patch(nn, "bmm_transpose", counter.functional("matmul", _mm_t_cost, nn.bmm_transpose))
    patch(nn, "linear", counter.functional("matmul", _linear_cost, nn.linear))
    patch(nn, "baddbmm", counter.functional("matmul", _baddbmm_cost, nn.baddbmm))
    patch(retention_kernels, "fused_retention",
          counter.functional("retention", _retention_cost, retention_kernels.fused_retention))
    patch(retention_qkv, "strided_retention",
          counter.functional("retention", _retention_qkv_cost, retention_qkv.strided_retention))
    # the inference-fused products (``fuse_for_inference``): one GEMM each, as ``nn.linear``
    for name in ("linear_act", "linear_channels_first"):
        patch(fused_linear, name, counter.functional("matmul", _linear_cost,
                                                     getattr(fused_linear, name)))
    patch(fused_linear, "mlp_act", counter.functional("matmul", _mlp_cost, fused_linear.mlp_act))
    patch(nn, "interpolate", counter.functional("resize", _interpolate_cost, nn.interpolate))
    for name in ("bilinear_resize", "bilinear_resize_nhwc"):
        patch(bilinear, name, counter.functional("resize", _bilinear_cost,
                                                 getattr(bilinear, name)))
    patch(bilinear, "resize_sum_nhwc",
          counter.functional("resize", _resize_sum_cost, bilinear.resize_sum_nhwc))
    patch(jt.Var, "__mul__", counter.mul(jt.Var.__mul__))
    orig_rmul = jt.Var.__rmul__
    patch(jt.Var, "__rmul__", counter.mul(lambda a, b: orig_rmul(a, b)))
    try:
        yield
    finally:
        for owner, attr, old in reversed(patches):
            setattr(owner, attr, old)
        for m in wrapped_modules:
            m.__dict__.pop("execute", None)


def count_params(model):
    """{module name: trainable parameters it owns directly}; counted in train mode (``eval()``
    marks every var stop_grad), the model's mode restored afterwards."""
    if getattr(type(model), "fused_for_inference", False):  # cannot train: count all it holds
        owned = {}
        for name, p in model.named_parameters():
            owner = name.rsplit(".", 1)[0] if "." in name else ""
            owned[owner] = owned.get(owner, 0) + _numel(p.shape)
        return owned
    was_training = model.is_training()
    model.train()
    try:
        owned = {}
        for name, p in model.named_parameters():
            if p.is_stop_grad():
                continue
            owner = name.rsplit(".", 1)[0] if "." in name else ""
            owned[owner] = owned.get(owner, 0) + _numel(p.shape)
        return owned
    finally:
        if not was_training:
            model.eval()


def count_flops(model, input_shape=(1, 3, 512, 512), forward=None):
    """Count ``model``'s MACs for one forward on an input of ``input_shape`` (eval mode, no
    gradients, nothing executed). ``forward(model, x)`` defaults to ``model.encode_decode(x)``
    where it exists (logits resized to the input, as mmseg's ``forward_dummy``), else
    ``model(x)``. The model's one ``execute`` is counted — the formulation of the published
    code; a model fused for inference (``jseg_ret.models.fuse_for_inference``) counts what its
    folded algebra computes. Jittor's API is restored afterwards. Returns a
    :class:`FlopReport`."""
    params = count_params(model)
    module_types = {name: type(m).__name__ for name, m in model.named_modules()}
    was_training = model.is_training()
    model.eval()
    counter = _Counter(model)
    if forward is None:
        forward = (lambda mdl, x: mdl.encode_decode(x)) if hasattr(model, "encode_decode") \
            else (lambda mdl, x: mdl(x))
    try:
        with jt.no_grad(), _patched(counter):
            x = jt.zeros(tuple(input_shape), "float32")
            out = forward(model, x)
            del out, x  # never synced: the lazy graph is dropped without running
    finally:
        if was_training:
            model.train()
    return FlopReport(counter.own, counter.kinds, params, counter.totals, input_shape,
                      module_types)


__all__ = ["CONVENTIONS", "FlopReport", "count_flops", "count_params", "leaf_cost",
           "matmul_macs"]
