"""SegFormerHeadWithRes: SegRet's zero-initialized residual decoder (MODELS.md §1).

For each backbone stage i: out_i = ReLU(proj(x_i) + zero(x_i)), where ``proj`` is a per-pixel
Linear C_i→E and ``zeroLayer`` a 1×1 conv (weight and bias zero at init) + BN — so at
initialization the residual branch adds exactly zero. The four maps are resized to the stride-4
size, concatenated as [c4, c3, c2, c1], fused (1×1 ConvModule 4E→E), dropped out and classified
by ``linear_pred``. ``conv_seg`` (from BaseDecodeHead) exists for checkpoint compatibility only.
"""
import jittor as jt
from jittor import nn

from ...bricks import ConvModule, build_norm_layer, constant_
from ...ops import resize
from ...registry import HEADS
from .decode_head import BaseDecodeHead


class ZeroInitConvBN(nn.Module):
    """1×1 conv whose weight and bias start at zero, then a norm."""

    def __init__(self, in_channels, out_channels, norm_cfg):
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=True)
        self.bn = build_norm_layer(norm_cfg, out_channels)[1]
        constant_(self.conv.weight, 0.0)
        constant_(self.conv.bias, 0.0)

    def execute(self, x):
        return self.bn(self.conv(x))


class ResidualMLP(nn.Module):
    """ReLU(Linear(x) + ZeroInitConvBN(x)) on an NCHW map, returned NCHW."""

    def __init__(self, input_dim, embed_dim, norm_cfg):
        self.proj = nn.Linear(input_dim, embed_dim)
        self.zeroLayer = ZeroInitConvBN(input_dim, embed_dim, norm_cfg)

    def execute(self, x):
        n, _, h, w = x.shape
        linear = self.proj(x.reshape(n, x.shape[1], h * w).transpose(0, 2, 1))
        linear = linear.transpose(0, 2, 1).reshape(n, -1, h, w)
        return nn.relu(linear + self.zeroLayer(x))


@HEADS.register_module()
class SegFormerHeadWithRes(BaseDecodeHead):
    def __init__(self, feature_strides=(4, 8, 16, 32), decoder_params=dict(embed_dim=256),
                 **kwargs):
        kwargs.setdefault("input_transform", "multiple_select")
        super().__init__(**kwargs)
        if len(feature_strides) != len(self.in_channels) or \
                list(feature_strides) != sorted(feature_strides):
            raise ValueError(f"feature_strides {feature_strides} must be increasing, one per "
                             f"input ({len(self.in_channels)})")
        self.feature_strides = tuple(feature_strides)
        embed_dim = decoder_params["embed_dim"]
        norm_cfg = self.norm_cfg or dict(type="BN")
        for i, c in enumerate(self.in_channels):
            setattr(self, f"linear_c{i + 1}", ResidualMLP(c, embed_dim, norm_cfg))
        self.linear_fuse = ConvModule(embed_dim * len(self.in_channels), embed_dim, 1,
                                      norm_cfg=norm_cfg)
        self.linear_pred = nn.Conv2d(embed_dim, self.num_classes, 1)

    def execute(self, inputs):
        feats = self._transform_inputs(inputs)
        size = feats[0].shape[2:]
        maps = []
        for i in reversed(range(len(feats))):  # c4, c3, c2, c1
            m = getattr(self, f"linear_c{i + 1}")(feats[i])
            maps.append(resize(m, size=size, mode="bilinear", align_corners=self.align_corners))
        x = self.linear_fuse(jt.concat(maps, dim=1))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.linear_pred(x)
