"""Activation layers by config (``dict(type='ReLU')``)."""
from jittor import nn

from ..ops.gelu import gelu
from ..registry import Registry

ACTIVATIONS = Registry("activation")


class GELU(nn.Module):
    """Exact (erf) GELU, as torch.nn.GELU() (one CPU kernel where no gradient is needed)."""

    def execute(self, x):
        return gelu(x)


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
