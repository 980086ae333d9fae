"""Activation layers by config (``dict(type='ReLU')``)."""
import jittor as jt
from jittor import nn

from ..registry import Registry

ACTIVATIONS = Registry("activation")


class GELU(nn.Module):
    """Exact (erf) GELU, as torch.nn.GELU()."""

    def execute(self, x):
        return x * 0.5 * (1.0 + jt.erf(x * 0.7071067811865476))


class Identity(nn.Module):
    def execute(self, x):
        return x


for _name, _cls in (("ReLU", nn.ReLU), ("GELU", GELU), ("Sigmoid", nn.Sigmoid),
                    ("Tanh", nn.Tanh), ("LeakyReLU", nn.LeakyReLU), ("Identity", Identity)):
    ACTIVATIONS.register_module(name=_name, module=_cls)


def build_activation_layer(cfg):
    args = dict(cfg)
    args.pop("inplace", None)  # in-place has no meaning in Jittor's graph
    return ACTIVATIONS.build(args)
