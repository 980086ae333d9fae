"""Stochastic depth (timm's DropPath): drop whole residual branches per sample in training."""
import jittor as jt
from jittor import nn


class DropPath(nn.Module):
    def __init__(self, drop_prob=0.0):
        self.drop_prob = float(drop_prob)

    def execute(self, x):
        if self.drop_prob == 0.0 or not self.is_training():
            return x
        keep = 1.0 - self.drop_prob
        mask = (jt.rand((x.shape[0],) + (1,) * (x.ndim - 1)) < keep).astype(x.dtype)
        return x * mask / keep


class Dropout2d(nn.Module):
    """Channel dropout (whole feature maps), as torch.nn.Dropout2d; follows train()/eval().
    ``channels_last``: the channels are the last axis (the same mask, drawn in the same order)."""

    def __init__(self, p=0.5, channels_last=False):
        self.p = float(p)
        self.channels_last = bool(channels_last)

    def execute(self, x):
        if self.p == 0.0 or not self.is_training():
            return x
        keep = 1.0 - self.p
        if self.channels_last:
            shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],)
        else:
            shape = tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
        mask = (jt.rand(shape) < keep).astype(x.dtype)
        return x * mask / keep
