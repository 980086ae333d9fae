"""SegFormerHeadWithRes: SegRet's zero-initialized residual decoder (MODELS.md §1).

For each backbone stage i: out_i = ReLU(proj(x_i) + zero(x_i)) (no ReLU with
``decoder_params.use_relu=False``), where ``proj`` is a per-pixel
Linear C_i→E and ``zeroLayer`` a 1×1 conv (weight and bias zero at init) + BN — so at
initialization the residual branch adds exactly zero. The four maps are resized to the stride-4
size, concatenated as [c4, c3, c2, c1], fused (1×1 ConvModule 4E→E), dropped out and classified
by ``linear_pred``. ``conv_seg`` (from BaseDecodeHead) exists for checkpoint compatibility only.

Inference fast path (eval mode, ``jseg_ret.utils.fast_path_enabled()``): the same function with
the same parameters, evaluated with less work —
- per stage, ``proj`` and the eval-mode ``zeroLayer`` (1×1 conv, then BN = a per-channel affine
  map) are one linear map, applied as one product on the channels-last map;
- ``linear_fuse``'s 1×1 conv over the concatenation is a sum of per-stage 1×1 convs, and a 1×1
  conv commutes with bilinear resizing (both linear, one over channels, one over positions), so
  each stage's share is computed at the stage's own resolution and then upsampled: 1.4 instead of
  4.3 GMACs for SegRet-T at 512×512; its BN is folded into those weights;
- everything runs channels-last (pixels × channels): a 1×1 conv is then the same product as a
  Linear, which oneDNN runs ~3× faster than (E × C) @ (C × pixels), and on the CPU the
  upsampling moves whole pixels (``ops.bilinear``).
Training, other norms and ``align_corners=True`` take the direct path.
"""
import jittor as jt
from jittor import nn

from ...bricks import BatchNorm2d, ConvModule, build_norm_layer, constant_
from ...bricks.channels_last import bn_affine
from ...ops import resize
from ...ops import bilinear
from ...registry import HEADS
from ...utils import fast_path_enabled
from .decode_head import BaseDecodeHead


def _resize_nhwc(x, size):
    """Bilinear (align_corners=False) resize of a channels-last map; no-op at ``size``."""
    if tuple(x.shape[1:3]) == tuple(size):
        return x
    if not jt.flags.use_cuda:
        return bilinear.bilinear_resize_nhwc(x, size)
    return resize(x.permute(0, 3, 1, 2), size=size).permute(0, 2, 3, 1)


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
    """ReLU(Linear(x) + ZeroInitConvBN(x)) on an NCHW map, returned NCHW (no ReLU when
    ``use_relu`` is False)."""

    def __init__(self, input_dim, embed_dim, norm_cfg, use_relu=True):
        self.proj = nn.Linear(input_dim, embed_dim)
        self.zeroLayer = ZeroInitConvBN(input_dim, embed_dim, norm_cfg)
        self.use_relu = use_relu

    def execute(self, x):
        n, _, h, w = x.shape
        linear = self.proj(x.reshape(n, x.shape[1], h * w).transpose(0, 2, 1))
        linear = linear.transpose(0, 2, 1).reshape(n, -1, h, w)
        out = linear + self.zeroLayer(x)
        return nn.relu(out) if self.use_relu else out


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
        # The published head reads decoder_params['use_relu'] unconditionally (a config without
        # it fails there with a KeyError); its ReLU is the paper's design, so absent means True.
        self.use_relu = bool(decoder_params.get("use_relu", True))
        norm_cfg = self.norm_cfg or dict(type="BN")
        for i, c in enumerate(self.in_channels):
            setattr(self, f"linear_c{i + 1}",
                    ResidualMLP(c, embed_dim, norm_cfg, use_relu=self.use_relu))
        self.linear_fuse = ConvModule(embed_dim * len(self.in_channels), embed_dim, 1,
                                      norm_cfg=norm_cfg)
        self.linear_pred = nn.Conv2d(embed_dim, self.num_classes, 1)

    def _fast_ok(self, feats):
        return (fast_path_enabled() and not self.is_training() and not self.align_corners
                and str(feats[0].dtype) == "float32"
                and self.linear_fuse.order == ("conv", "norm", "act")
                and isinstance(self.linear_fuse.norm, BatchNorm2d)
                and self.linear_fuse.conv.bias is None
                and isinstance(getattr(self.linear_fuse, "activate", None), nn.ReLU)
                and all(isinstance(getattr(self, f"linear_c{i + 1}").zeroLayer.bn, BatchNorm2d)
                        for i in range(len(feats))))

    def _execute_fast(self, feats):
        """Eval-mode inference, the algebra folded (see the module docstring); channels-last
        throughout, so every 1×1 conv is one (pixels × C) @ (C × E) product."""
        size = tuple(feats[0].shape[2:])
        e = self.linear_fuse.conv.weight.shape[0]
        fuse_w = self.linear_fuse.conv.weight.reshape(e, -1)
        fuse_s, fuse_t = bn_affine(self.linear_fuse.norm)
        total = None
        for j, i in enumerate(reversed(range(len(feats)))):  # concat order c4, c3, c2, c1
            mlp = getattr(self, f"linear_c{i + 1}")
            zs, zt = bn_affine(mlp.zeroLayer.bn)
            conv = mlp.zeroLayer.conv  # 1×1, weight (E, C, 1, 1)
            weight = mlp.proj.weight + zs.unsqueeze(1) * conv.weight.reshape(e, -1)
            bias = mlp.proj.bias + zs * conv.bias + zt
            m = nn.linear(feats[i].permute(0, 2, 3, 1), weight, bias)
            if self.use_relu:
                m = nn.relu(m)
            z = nn.linear(m, fuse_s.unsqueeze(1) * fuse_w[:, j * e:(j + 1) * e])
            z = _resize_nhwc(z, size)
            total = z if total is None else total + z
        x = nn.relu(total + fuse_t)
        if self.dropout is not None:
            x = self.dropout(x)  # identity in eval mode
        k = self.num_classes
        logits = nn.linear(x, self.linear_pred.weight.reshape(k, -1), self.linear_pred.bias)
        return logits.permute(0, 3, 1, 2)

    def execute(self, inputs):
        feats = self._transform_inputs(inputs)
        if self._fast_ok(feats):
            return self._execute_fast(feats)
        size = feats[0].shape[2:]
        maps = []
        for i in reversed(range(len(feats))):  # c4, c3, c2, c1
            m = getattr(self, f"linear_c{i + 1}")(feats[i])
            maps.append(resize(m, size=size, mode="bilinear", align_corners=self.align_corners))
        x = self.linear_fuse(jt.concat(maps, dim=1))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.linear_pred(x)
