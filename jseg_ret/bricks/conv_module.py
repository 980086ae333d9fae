"""ConvModule: conv -> norm -> activation, with mmcv's child names (conv, bn/gn/ln, activate).

``channels_last=True``: the conv and norm take NHWC maps (``bricks.conv.Conv2d``)."""
from jittor import nn

from ..ops.group_norm import GroupNormAct
from .activation import build_activation_layer
from .conv import Conv2d
from .fuse import fold_bn_after, is_foldable_bn
from .init import constant_init, kaiming_init
from .norm import GroupNorm, build_norm_layer


class ConvModule(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias="auto", conv_cfg=None, norm_cfg=None, act_cfg=dict(type="ReLU"),
                 inplace=True, order=("conv", "norm", "act"), channels_last=False):
        if conv_cfg not in (None, dict(type="Conv2d"), dict(type="Conv")):
            raise ValueError(f"ConvModule: conv_cfg {conv_cfg!r} not supported (only Conv2d)")
        if set(order) != {"conv", "norm", "act"}:
            raise ValueError(f"ConvModule: order must be a permutation of conv/norm/act: {order}")
        self.order = tuple(order)
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        if bias == "auto":
            bias = not self.with_norm  # a norm right after the conv makes its bias redundant
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                           padding=padding, dilation=dilation, groups=groups, bias=bias,
                           channels_last=channels_last)
        self.norm_name = None
        if self.with_norm:
            norm_channels = out_channels if order.index("norm") > order.index("conv") \
                else in_channels
            self.norm_name, norm = build_norm_layer(norm_cfg, norm_channels,
                                                    channels_last=channels_last)
            setattr(self, self.norm_name, norm)
        if self.with_activation:
            self.activate = build_activation_layer(act_cfg)
        kaiming_init(self.conv, a=0, nonlinearity="relu")
        if self.with_norm:
            constant_init(self.norm, 1, bias=0)

    @property
    def norm(self):
        return getattr(self, self.norm_name) if self.norm_name else None

    def fold_for_inference(self):
        """Inference: fold an eval BatchNorm that directly follows the conv into it; a
        GroupNorm (NCHW) and the ReLU after it run as one kernel (``ops.group_norm``)."""
        if self.with_norm and isinstance(self.norm, GroupNorm) and self.norm.affine \
                and not self.conv.channels_last and self.order == ("conv", "norm", "act"):
            act = self.activate if self.with_activation else None
            if act is None or type(act) is nn.ReLU:
                setattr(self, self.norm_name, GroupNormAct(self.norm, act))
                self.with_activation = False
            return
        if not self.with_norm or not is_foldable_bn(self.norm) or \
                self.order.index("norm") != self.order.index("conv") + 1:
            return
        fold_bn_after(self.conv, self.norm)
        delattr(self, self.norm_name)
        self.norm_name, self.with_norm = None, False

    def execute(self, x):
        for layer in self.order:
            if layer == "conv":
                x = self.conv(x)
            elif layer == "norm" and self.with_norm:
                x = self.norm(x)
            elif layer == "act" and self.with_activation:
                x = self.activate(x)
        return x
