"""Inference-only rewrites of building blocks (``jseg_ret.models.fuse_for_inference`` uses them).

Each folds an eval-mode BatchNorm — the fixed per-channel affine map y = x·s + t — into the
neighbouring linear layer, once, as fresh stop-grad parameters; the caller then drops the BN.
"""
import numpy as np

import jittor as jt
from jittor import nn

from .norm import BatchNorm2d


def _var(a):
    return jt.array(np.ascontiguousarray(a, dtype=np.float32)).stop_grad()


def _np(v):
    return v.numpy().astype(np.float64)


def is_foldable_bn(norm):
    """Whether ``norm`` is a BatchNorm (or SyncBN): in eval mode a fixed affine map."""
    return isinstance(norm, BatchNorm2d)


def bn_scale_shift(bn):
    """(s, t) numpy float64 with eval-mode BN(x) = x·s + t per channel."""
    s = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
    return s, _np(bn.bias) - _np(bn.running_mean) * s


def fold_bn_after(layer, bn):
    """``layer`` (a conv OIHW or Linear OI) followed by eval-mode ``bn``, as one ``layer``:
    W' = s·W per output channel, b' = s·b + t."""
    s, t = bn_scale_shift(bn)
    w = _np(layer.weight)
    b = _np(layer.bias) if layer.bias is not None else np.zeros(w.shape[0])
    layer.weight = _var(w * s.reshape((-1,) + (1,) * (w.ndim - 1)))
    layer.bias = _var(b * s + t)


def fold_bn_before(layer, bn):
    """Eval-mode ``bn`` followed by ``layer`` (a 1×1 conv or Linear, ungrouped), as one
    ``layer``: W' = W·diag(s), b' = b + W t."""
    s, t = bn_scale_shift(bn)
    w = _np(layer.weight)
    w2 = w.reshape(w.shape[0], w.shape[1])
    b = _np(layer.bias) if layer.bias is not None else np.zeros(w.shape[0])
    layer.weight = _var((w2 * s[None, :]).reshape(w.shape))
    layer.bias = _var(b + w2 @ t)


def fold_sequential_conv_bn(seq):
    """In an ``nn.Sequential``, fold every eval BN that follows a conv into it (BN → Identity)."""
    keys = list(seq.layers.keys())
    for a, b in zip(keys, keys[1:]):
        conv, norm = seq.layers[a], seq.layers[b]
        if isinstance(conv, nn.Conv2d) and is_foldable_bn(norm):
            fold_bn_after(conv, norm)
            seq.layers[b] = nn.Identity()


class Affine(nn.Module):
    """A fixed per-channel affine map x·scale + shift over axis ``axis`` (an eval BN, folded)."""

    def __init__(self, scale, shift, channels_last):
        self.channels_last = bool(channels_last)
        self._scale, self._shift = _var(scale), _var(shift)

    def execute(self, x):
        if self.channels_last:
            return x * self._scale + self._shift
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * self._scale.reshape(shape) + self._shift.reshape(shape)


def bn_as_affine(bn):
    """An eval-mode BatchNorm as its fixed ``Affine`` map."""
    return Affine(*bn_scale_shift(bn), channels_last=bn.channels_last)


__all__ = ["Affine", "bn_as_affine", "bn_scale_shift", "fold_bn_after", "fold_bn_before",
           "fold_sequential_conv_bn", "is_foldable_bn"]
