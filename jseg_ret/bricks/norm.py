"""Normalization layers and build_norm_layer (mmcv naming: bn, gn, ln)."""
import jittor as jt
from jittor import nn

from ..ops.layer_norm import normalize_last
from ..registry import Registry

NORM_LAYERS = Registry("norm layer")


@NORM_LAYERS.register_module(name="BN")
class BatchNorm2d(nn.Module):
    """BatchNorm with PyTorch's statistics: the running variance is updated with the unbiased
    batch variance (Jittor's own BatchNorm uses the biased one), so training here tracks the
    same running statistics as the reference PyTorch code.

    ``sync=True`` averages the batch statistics over MPI ranks (SyncBN); in one process it is
    plain BN. ``channels_last``: the channels are the last axis (NHWC maps) instead of axis 1.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, sync=False,
                 requires_grad=True, channels_last=False):
        self.num_features = num_features
        self.channels_last = bool(channels_last)
        self.eps = eps
        self.momentum = momentum
        self.sync = sync
        self.weight = jt.ones((num_features,), "float32")
        self.bias = jt.zeros((num_features,), "float32")
        if not affine or not requires_grad:
            self.weight.stop_grad()
            self.bias.stop_grad()
        self.running_mean = jt.zeros((num_features,), "float32").stop_grad()
        self.running_var = jt.ones((num_features,), "float32").stop_grad()

    def execute(self, x):
        c = self.num_features
        axis = x.ndim - 1 if self.channels_last else 1
        if x.shape[axis] != c:
            raise ValueError(f"BatchNorm expected {c} channels on axis {axis}, got input of "
                             f"shape {x.shape}")
        dims = [d for d in range(x.ndim) if d != axis]
        bshape = (c,) if self.channels_last else (1, c) + (1,) * (x.ndim - 2)
        if self.is_training():
            mean = x.mean(dims)
            sq_mean = (x * x).mean(dims)
            count = x.numel() // c
            if self.sync and jt.in_mpi:
                mean = mean.mpi_all_reduce("mean")
                sq_mean = sq_mean.mpi_all_reduce("mean")
                count *= jt.world_size
            var = (sq_mean - mean * mean).maximum(0.0)
            unbiased = var * (count / max(count - 1, 1))
            m = self.momentum
            self.running_mean.update((1 - m) * self.running_mean + m * mean.detach())
            self.running_var.update((1 - m) * self.running_var + m * unbiased.detach())
        else:
            mean, var = self.running_mean, self.running_var
        scale, shift = self.affine_of(mean, var)
        return x * scale.reshape(bshape) + shift.reshape(bshape)

    def affine_of(self, mean, var):
        """(scale, shift) with BN(x) = x·scale + shift per channel, for these statistics."""
        scale = self.weight / jt.sqrt(var + self.eps)
        return scale, self.bias - mean * scale

    def eval_affine(self):
        """(scale, shift) of the eval-mode BN (running statistics), without gradients."""
        scale, shift = self.affine_of(self.running_mean, self.running_var)
        return scale.detach(), shift.detach()


@NORM_LAYERS.register_module(name="SyncBN")
class SyncBatchNorm(BatchNorm2d):
    """BN whose batch statistics are averaged across MPI ranks (plain BN in one process)."""

    def __init__(self, num_features, **kwargs):
        kwargs["sync"] = True
        super().__init__(num_features, **kwargs)


@NORM_LAYERS.register_module(name="GN")
class GroupNorm(nn.GroupNorm):
    def __init__(self, num_channels, num_groups=32, eps=1e-5, affine=True, requires_grad=True):
        super().__init__(num_groups, num_channels, eps=eps, affine=affine)
        if not requires_grad and affine:
            self.weight.stop_grad()
            self.bias.stop_grad()


@NORM_LAYERS.register_module(name="LN")
class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an NCHW map (or over the last dim of an NLC tensor)."""

    def __init__(self, num_channels, eps=1e-6, requires_grad=True, channels_last=False):
        self.eps = eps
        self.channels_last = channels_last
        self.weight = jt.ones((num_channels,), "float32")
        self.bias = jt.zeros((num_channels,), "float32")
        if not requires_grad:
            self.weight.stop_grad()
            self.bias.stop_grad()

    def execute(self, x):
        if self.channels_last:  # the CPU kernel where no gradient is needed
            return normalize_last(x, self.weight, self.bias, self.eps)
        mean = x.mean(1, keepdims=True)
        var = ((x - mean) ** 2).mean(1, keepdims=True)
        y = (x - mean) / jt.sqrt(var + self.eps)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return y * self.weight.reshape(shape) + self.bias.reshape(shape)


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` over the last axis (same parameters), run as the CPU kernel where no
    gradient is needed (``ops.layer_norm``)."""

    def execute(self, x):
        return normalize_last(x, self.weight, self.bias, self.eps)


CHANNELS_LAST_NORMS = ("BN", "SyncBN", "LN")

# mmcv's abbreviations: the attribute name a norm gets inside ConvModule.
_ABBR = {"BN": "bn", "SyncBN": "bn", "GN": "gn", "LN": "ln"}


def build_norm_layer(cfg, num_features, postfix="", channels_last=False):
    """(name, layer) for ``cfg`` = dict(type='BN'|'SyncBN'|'GN'|'LN', requires_grad=..., ...).
    ``channels_last``: the layer normalizes NHWC maps (BN and LN; GN has no such form)."""
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise TypeError(f"norm_cfg must be a dict with a 'type' key, got {cfg!r}")
    args = dict(cfg)
    layer_type = args.pop("type")
    cls = NORM_LAYERS.lookup(layer_type)
    if layer_type == "GN":
        if "num_groups" not in args:
            raise KeyError(f"norm_cfg {cfg!r}: GN needs 'num_groups'")
        if num_features % args["num_groups"]:
            raise ValueError(f"GN: {num_features} channels are not divisible into "
                             f"{args['num_groups']} groups")
    if channels_last:
        if layer_type not in CHANNELS_LAST_NORMS:
            raise ValueError(f"norm_cfg {cfg!r}: {layer_type} has no channels-last form "
                             f"(those are {sorted(CHANNELS_LAST_NORMS)})")
        args["channels_last"] = True
    layer = cls(num_features, **args)
    return _ABBR.get(layer_type, layer_type.lower()) + str(postfix), layer
