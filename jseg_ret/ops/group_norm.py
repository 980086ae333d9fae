"""GroupNorm (+ ReLU) on NCHW maps: one CPU kernel where no gradient is needed (inference).

Jittor's ``nn.GroupNorm`` runs as reduce and element-wise kernels (SegNeXt-T's head has three;
docs/performance.md). ``kernels/group_norm_cpu.h`` normalizes each
(sample, group) in three passes over its contiguous block, with the affine map and the ReLU
that follows it in ``ConvModule``. ``GroupNormAct`` (installed by ``fuse_for_inference`` through
``ConvModule.fold_for_inference``) uses it where it ``applies`` and the modules otherwise.
"""
import jittor as jt
from jittor import nn

from .fused_linear import applies
from .kernels.sources import kernel_source

_SRC = """jseg_group_norm::forward<{relu}>(in0_p, in1_p, in2_p, out0_p, in0_shape0, in0_shape1,
    in0->num / (in0_shape0 * in0_shape1), (int)data["groups"], data["eps"]);"""


def _header():  # the kernel source file after its helper (read once, cached)
    return kernel_source("lane_sum_cpu.h", "group_norm_cpu.h")


def group_norm_act(x, weight, bias, groups, eps, relu=False):
    """GroupNorm of ``x`` (N, C, ...) with ``groups`` groups and the affine ``weight``/``bias``
    (C,), then ReLU if ``relu``: the CPU kernel (no gradient; float32)."""
    c = x.shape[1]
    if c % groups or weight.shape != (c,) or bias.shape != (c,):
        raise ValueError(f"group_norm_act: x {tuple(x.shape)}, {groups} groups, weight "
                         f"{tuple(weight.shape)}, bias {tuple(bias.shape)}; expected C divisible "
                         f"by the groups and (C,) affine parameters")
    src = _SRC.format(relu="true" if relu else "false")
    return jt.code(x.shape, x.dtype, [x, weight, bias], cpu_header=_header(), cpu_src=src,
                   data={"groups": int(groups), "eps": float(eps)})


class GroupNormAct(nn.Module):
    """``activation(norm(x))`` for a GroupNorm ``norm`` with affine parameters and a ReLU (or no)
    ``activation`` (inference only)."""

    def __init__(self, norm, activation=None):
        if not getattr(norm, "affine", False) or not isinstance(norm.weight, jt.Var):
            raise ValueError("GroupNormAct: the GroupNorm must have affine parameters")
        if activation is not None and not isinstance(activation, nn.ReLU):
            raise ValueError(f"GroupNormAct: activation {activation!r}; expected a ReLU or None")
        self.norm = norm
        self.activation = activation

    def execute(self, x):
        n = self.norm
        if x.ndim >= 3 and applies(x, n.weight, n.bias):
            return group_norm_act(x, n.weight, n.bias, n.num_groups, n.eps,
                                  self.activation is not None)
        y = n(x)
        return self.activation(y) if self.activation is not None else y


__all__ = ["GroupNormAct", "group_norm_act"]
