"""ConvModule: conv -> norm -> activation, with mmcv's child names (conv, bn/gn/ln, activate)."""
from jittor import nn

from .activation import build_activation_layer
from .init import constant_init, kaiming_init
from .norm import build_norm_layer


class ConvModule(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias="auto", conv_cfg=None, norm_cfg=None, act_cfg=dict(type="ReLU"),
                 inplace=True, order=("conv", "norm", "act")):
        if conv_cfg not in (None, dict(type="Conv2d"), dict(type="Conv")):
            raise ValueError(f"ConvModule: conv_cfg {conv_cfg!r} not supported (only Conv2d)")
        if set(order) != {"conv", "norm", "act"}:
            raise ValueError(f"ConvModule: order must be a permutation of conv/norm/act: {order}")
        self.order = tuple(order)
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        if bias == "auto":
            bias = not self.with_norm  # a norm right after the conv makes its bias redundant
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, dilation=dilation, groups=groups, bias=bias)
        self.norm_name = None
        if self.with_norm:
            norm_channels = out_channels if order.index("norm") > order.index("conv") \
                else in_channels
            self.norm_name, norm = build_norm_layer(norm_cfg, norm_channels)
            setattr(self, self.norm_name, norm)
        if self.with_activation:
            self.activate = build_activation_layer(act_cfg)
        kaiming_init(self.conv, a=0, nonlinearity="relu")
        if self.with_norm:
            constant_init(self.norm, 1, bias=0)

    @property
    def norm(self):
        return getattr(self, self.norm_name) if self.norm_name else None

    def execute(self, x):
        for layer in self.order:
            if layer == "conv":
                x = self.conv(x)
            elif layer == "norm" and self.with_norm:
                x = self.norm(x)
            elif layer == "act" and self.with_activation:
                x = self.activate(x)
        return x
