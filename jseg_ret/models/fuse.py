"""``fuse_for_inference``: the one inference-only rewrite of a model, done once.

Training and inference run the same ``execute`` of every module. What only inference can fold
is folded here, once, into fresh constant parameters — never on every call:
- an eval-mode BatchNorm next to a conv or 1×1 conv (``ConvModule``, the patch embeddings and
  stems, RMT's downsampling, the BN before MSCAN/VAN's MLP) — BN is then a fixed affine map;
- SegRet's zero-initialized residual branch (1×1 conv + BN) into the stage's Linear, and its
  ``linear_fuse`` into per-stage shares applied before the resize (each stage's Linear, ReLU and
  share then one ``FusedMLP``); the backbone hands channels-last maps to the head;
- RMT's q/k projections into one Linear with the key scale d^-1/2, lepe's bias into
  ``out_proj``'s, the position encoding's identity into its conv's centre tap, and fc1-GELU-fc2
  into one ``FusedMLP`` (hidden activations kept in cache);
- then, over the whole copy, every Linear / channels-last 1×1 conv with a bias becomes a
  ``FusedLinear`` (bias inside the product's op), and a channels-last conv followed by a GELU in
  an ``nn.Sequential`` (the stems) a ``BiasAct`` (bias + GELU in one pass); modules that know
  which activation follows a product fuse it in their ``fold_for_inference`` (RMT's FFN,
  MSCAN/VAN's attention and MLP, SegRet's stage projections, a ConvModule's GroupNorm + ReLU);
  1×1 convs on NCHW maps (SegNeXt's head) become one GEMM per sample (``PointwiseConvNCHW``).
Each module that can be rewritten has a ``fold_for_inference()`` method saying what it folds
(idempotent; called on the copy only).

Fusing works on a **copy**: the model passed in is left exactly as it was (the evaluator can run
in the middle of a training run, and the trained model keeps its checkpoint layout). The fused
copy is in eval mode and is for inference only: its parameters no longer match the checkpoint
keys, so ``state_dict``/``save``/``load``/``load_state_dict``/``train`` raise
(``named_parameters`` still lists what it holds)
``FusedModelError`` instead of writing or training something wrong. Fusing a fused model returns
it unchanged (idempotent).
"""
from __future__ import annotations

import copy
from typing import Any, TypeVar

import numpy as np

import jittor as jt
from jittor import nn

from ..bricks import GELU, Conv2d
from ..ops.fused_linear import BiasAct, FusedLinear, PointwiseConvNCHW

M = TypeVar("M")


class FusedModelError(RuntimeError):
    """A model fused for inference was asked to be saved, loaded or trained."""


def _refuse(what):
    def method(self, *args, **kwargs):
        raise FusedModelError(
            f"{type(self).__name__}.{what}(): this model was fused for inference "
            f"(jseg_ret.models.fuse_for_inference): its parameters no longer match the "
            f"checkpoint layout. Save, load or train the unfused model instead (fusing works on "
            f"a copy and leaves it untouched).")
    method.__name__ = what
    return method


def _named_parameters(self, recurse=True):
    return list(jt.Module.state_dict(self, recurse=recurse).items())


_FUSED_CLASSES = {}


def _fused_class(cls):
    """``cls`` with saving, loading and training refused (cached per class)."""
    if cls not in _FUSED_CLASSES:
        attrs = {name: _refuse(name) for name in ("state_dict", "save", "load",
                                                 "load_state_dict", "train", "load_parameters")}
        attrs["named_parameters"] = _named_parameters  # introspection stays possible
        attrs["fused_for_inference"] = True
        attrs["__doc__"] = f"{cls.__name__} fused for inference (see jseg_ret.models.fuse)."
        _FUSED_CLASSES[cls] = type(f"Fused{cls.__name__}", (cls,), attrs)
    return _FUSED_CLASSES[cls]


def is_fused(model: Any) -> bool:
    """True for a model made by ``fuse_for_inference``."""
    return bool(getattr(type(model), "fused_for_inference", False))


def fuse_for_inference(model: M) -> M:
    """A copy of ``model`` with the inference-only folds applied, in eval mode.

    Every submodule with a ``fold_for_inference`` method folds itself (e.g. BatchNorm into the
    convolution before it). ``model`` is left as it is.

    Args:
        model: Any Jittor module.

    Returns:
        The fused copy, or ``model`` itself when it is fused already. It computes the same
        outputs as ``model.eval()`` (to float32 rounding) and refuses
        ``state_dict``/``save``/``load``/``train`` (``FusedModelError``).
    """
    if is_fused(model):
        return model
    fused = copy.deepcopy(model)
    fused.eval()
    with jt.no_grad():
        # pre-order over a snapshot: a parent's ``fuse`` (e.g. the SegRet head) may fuse and
        # replace its children itself; every ``fuse`` is idempotent.
        for m in list(fused.modules()):
            fold = getattr(m, "fold_for_inference", None)
            if callable(fold):
                fold()
        _fuse_products(fused)
    fused.eval()  # new parameters: stop-grad like the rest
    fused.__class__ = _fused_class(type(fused))
    return fused


def _children(module):
    """(container, key, child) for every direct child module: attributes, and the entries of
    ``nn.Sequential``/``nn.ModuleList`` (``layers``)."""
    out = []
    layers = getattr(module, "layers", None)
    if isinstance(module, (nn.Sequential, nn.ModuleList)) and layers is not None:
        out += [(layers, k, v) for k, v in list(layers.items()) if isinstance(v, nn.Module)]
    out += [(module.__dict__, k, v) for k, v in list(module.__dict__.items())
            if isinstance(v, nn.Module) and k != "layers"]
    return out


def _is_biased_product(m):
    if isinstance(m, nn.Linear):
        return m.bias is not None
    return (isinstance(m, Conv2d) and m.channels_last and m.is_pointwise and m.bias is not None)


def _is_pointwise_nchw(m):
    """A 1×1, stride-1, unpadded, ungrouped conv on NCHW maps (e.g. SegNeXt's head)."""
    return (isinstance(m, nn.Conv2d) and not getattr(m, "channels_last", False)
            and tuple(m.weight.shape[2:]) == (1, 1) and m.groups == 1
            and tuple(np.broadcast_to(m.stride, 2)) == (1, 1)
            and tuple(np.broadcast_to(m.padding, 2)) == (0, 0))


def _fuse_sequential_conv_gelu(seq):
    """(channels-last conv with bias, Identity…, GELU) in ``seq`` → (BiasAct, Identity…)."""
    keys = list(seq.layers.keys())
    for i, k in enumerate(keys):
        conv = seq.layers[k]
        if not (isinstance(conv, Conv2d) and conv.channels_last and conv.bias is not None):
            continue
        j = i + 1
        while j < len(keys) and isinstance(seq.layers[keys[j]], nn.Identity):
            j += 1
        if j < len(keys) and type(seq.layers[keys[j]]) is GELU:
            seq.layers[k] = BiasAct(conv, seq.layers[keys[j]], "gelu")
            seq.layers[keys[j]] = nn.Identity()


def _fuse_products(model):
    """Biases (and a stem's GELU) into the product's op, over every module of ``model``."""
    for m in list(model.modules()):
        if isinstance(m, nn.Sequential):
            _fuse_sequential_conv_gelu(m)
        for container, key, child in _children(m):
            if _is_biased_product(child):
                container[key] = FusedLinear.from_linear(child)
            elif _is_pointwise_nchw(child):
                container[key] = PointwiseConvNCHW(child)


__all__ = ["FusedModelError", "fuse_for_inference", "is_fused"]
