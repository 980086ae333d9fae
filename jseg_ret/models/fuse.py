"""``fuse_for_inference``: the one inference-only rewrite of a model, done once.

Training and inference run the same ``execute`` of every module. What only inference can fold
is folded here, once, into fresh constant parameters — never on every call:
- an eval-mode BatchNorm next to a conv or 1×1 conv (``ConvModule``, the patch embeddings and
  stems, RMT's downsampling, the BN before MSCAN/VAN's MLP) — BN is then a fixed affine map;
- SegRet's zero-initialized residual branch (1×1 conv + BN) into the stage's Linear, and its
  ``linear_fuse`` into per-stage shares applied before the resize;
- RMT's q/k/v projections into one Linear with the key scale d^-1/2.
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

import jittor as jt

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
    fused.eval()  # new parameters: stop-grad like the rest
    fused.__class__ = _fused_class(type(fused))
    return fused


__all__ = ["FusedModelError", "fuse_for_inference", "is_fused"]
