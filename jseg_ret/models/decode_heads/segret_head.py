"""SegFormerHeadWithRes: SegRet's zero-initialized residual decoder (docs/models.md#segret).

For each backbone stage i: out_i = ReLU(proj(x_i) + zero(x_i)), where ``proj`` is a per-pixel
Linear C_i→E and ``zeroLayer`` a 1×1 conv (weight and bias zero at init) + BN — so at
initialization the residual branch adds exactly zero (``decoder_params.use_relu=False`` drops
the ReLU). The four maps are resized to the stride-4 size, concatenated as [c4, c3, c2, c1],
fused (1×1 ConvModule 4E→E), dropped out and classified by ``linear_pred``. ``conv_seg`` (from
BaseDecodeHead) exists for checkpoint compatibility only.

The head runs channels-last (pixels × channels): every 1×1 conv is then the Linear product, and
on the CPU the upsampling moves whole pixels (``ops.resize_nhwc``). Inputs are NCHW feature
maps (channels-last when ``in_channels_last``, which ``EncoderDecoder.fold_for_inference`` sets
together with the backbone's ``out_channels_last``), the logits NCHW.

``fold_for_inference()`` (inference, ``jseg_ret.models.fuse_for_inference``) rewrites the
algebra once:
- per stage, ``proj`` and the eval-mode ``zeroLayer`` (1×1 conv, then BN = a per-channel affine
  map) become one Linear;
- ``linear_fuse``'s 1×1 conv over the concatenation is a sum of per-stage 1×1 convs, and a 1×1
  conv commutes with bilinear resizing (both linear, one over channels, one over positions), so
  each stage's share moves before the resize, to the stage's own resolution (1.4 instead of 4.3
  GMACs for SegRet-T at 512×512), with its BN folded in; ``linear_fuse`` becomes the sum, the
  BN's shift and the ReLU. Each stage's proj (+ ReLU) and its share then run as one op
  (``FusedMLP``), or as one product without the ReLU.
"""
import numpy as np

import jittor as jt
from jittor import nn

from ...bricks import (
    CHANNELS_LAST_NORMS,
    BatchNorm2d,
    Conv2d,
    ConvModule,
    bn_scale_shift,
    build_norm_layer,
    constant_,
    fold_bn_after,
    is_foldable_bn,
)
from ...ops import bilinear, resize_nhwc
from ...ops.fused_linear import FusedLinear, FusedMLP, add_maps, applies
from ...registry import HEADS
from .decode_head import BaseDecodeHead


def _param(a):
    return jt.array(np.ascontiguousarray(a, dtype=np.float32)).stop_grad()


class ZeroInitConvBN(nn.Module):
    """1×1 conv whose weight and bias start at zero, then a norm (channels-last maps)."""

    def __init__(self, in_channels, out_channels, norm_cfg):
        self.conv = Conv2d(in_channels, out_channels, 1, bias=True, channels_last=True)
        self.bn = build_norm_layer(norm_cfg, out_channels, channels_last=True)[1]
        constant_(self.conv.weight, 0.0)
        constant_(self.conv.bias, 0.0)

    def execute(self, x):
        return self.bn(self.conv(x))


class ResidualMLP(nn.Module):
    """ReLU(Linear(x) + ZeroInitConvBN(x)) on a channels-last map (ReLU unless ``use_relu`` is
    False). After ``fold_for_inference`` the branch is folded into ``proj`` and ``zeroLayer`` is
    None."""

    def __init__(self, input_dim, embed_dim, norm_cfg, use_relu=True):
        self.use_relu = bool(use_relu)
        self.proj = nn.Linear(input_dim, embed_dim)
        self.zeroLayer = ZeroInitConvBN(input_dim, embed_dim, norm_cfg)

    def execute(self, x):
        y = self.proj(x)
        if self.zeroLayer is not None:
            y = y + self.zeroLayer(x)
        return nn.relu(y) if self.use_relu else y

    def fold_for_inference(self):
        """Inference: proj(x) + BN(conv(x)) as one Linear (eval BN), with the ReLU in its op."""
        if self.zeroLayer is not None and is_foldable_bn(self.zeroLayer.bn):
            self._fold_branch()
        if self.zeroLayer is None and self.use_relu and isinstance(self.proj, nn.Linear):
            self.proj = FusedLinear.from_linear(self.proj, nn.ReLU(), "relu")
            self.use_relu = False

    def _fold_branch(self):
        conv = self.zeroLayer.conv
        fold_bn_after(conv, self.zeroLayer.bn)
        e = conv.weight.shape[0]
        self.proj.weight = _param(self.proj.weight.numpy() + conv.weight.numpy().reshape(e, -1))
        self.proj.bias = _param(self.proj.bias.numpy() + conv.bias.numpy())
        self.zeroLayer = None


def _then_share(stage, share):
    """A folded stage map followed by its share (E×E, no bias) of ``linear_fuse``, as one op
    where the map is a single product: proj + ReLU then the share is a ``FusedMLP`` (the E-wide
    hidden map stays in cache), proj alone (``use_relu=False``) times the share one Linear."""
    if isinstance(stage, ResidualMLP) and stage.zeroLayer is None and not stage.use_relu:
        proj = stage.proj
        if isinstance(proj, FusedLinear) and proj.act == "relu":
            return FusedMLP(proj, nn.ReLU(), "relu", _linear(share, np.zeros(share.shape[0])))
        if isinstance(proj, nn.Linear):
            w1 = proj.weight.numpy().astype(np.float64)
            return _linear(share @ w1, share @ proj.bias.numpy().astype(np.float64))
    return nn.Sequential(stage, _linear(share, None))


def _linear(weight, bias):
    out, inp = weight.shape
    linear = nn.Linear(inp, out, bias=bias is not None)
    linear.weight = _param(weight)
    if bias is not None:
        linear.bias = _param(bias)
    return linear


class FuseStages(ConvModule):
    """``linear_fuse``: the stage maps (channels-last) resized to ``size``, then the ConvModule
    (1×1 conv, BN, ReLU) over their channel concatenation."""

    def execute(self, maps, size, align_corners):
        maps = [resize_nhwc(m, size, align_corners=align_corners) for m in maps]
        return super().execute(jt.concat(maps, dim=-1))


class SumShiftAct(nn.Module):
    """``linear_fuse`` after ``SegFormerHeadWithRes.fold_for_inference``: activate(Σ resize(maps)
    + shift) — the per-stage shares of the conv (and the BN's scale) already applied to each
    map; with a ReLU on the CPU one two-threaded pass that resizes as it sums
    (``ops.bilinear.resize_sum_nhwc``: the resized maps are never written)."""

    def __init__(self, shift, activate):
        self._shift = _param(shift)
        self.activate = activate

    def execute(self, maps, size, align_corners):
        if isinstance(self.activate, nn.ReLU) and applies(*maps, self._shift):
            return bilinear.resize_sum_nhwc(maps, size, align_corners, self._shift, relu=True)
        maps = [resize_nhwc(m, size, align_corners=align_corners) for m in maps]
        return self.activate(add_maps(*maps) + self._shift)


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
        use_relu = bool(decoder_params.get("use_relu", True))
        self.use_relu = use_relu
        norm_cfg = self.norm_cfg or dict(type="BN")
        if norm_cfg.get("type") not in CHANNELS_LAST_NORMS:
            raise ValueError(f"SegFormerHeadWithRes: norm_cfg {norm_cfg!r} must be one of "
                             f"{sorted(CHANNELS_LAST_NORMS)} (the head runs channels-last)")
        for i, c in enumerate(self.in_channels):
            setattr(self, f"linear_c{i + 1}", ResidualMLP(c, embed_dim, norm_cfg, use_relu))
        self.linear_fuse = FuseStages(embed_dim * len(self.in_channels), embed_dim, 1,
                                      norm_cfg=norm_cfg, channels_last=True)
        # channels-last in, NCHW logits out (the product writes them so; no copy)
        self.linear_pred = Conv2d(embed_dim, self.num_classes, 1, channels_last=True,
                                  channels_first_out=True)
        if self.dropout is not None:
            self.dropout.channels_last = True
        self.in_channels_last = False  # inputs NCHW (mmseg's contract) unless a fuse pass says

    def execute(self, inputs):
        feats = self._transform_inputs(inputs)
        if not self.in_channels_last:
            feats = [f.permute(0, 2, 3, 1) for f in feats]
        size = feats[0].shape[1:3]
        # c4, c3, c2, c1; linear_fuse resizes them to stride 4
        maps = [getattr(self, f"linear_c{i + 1}")(feats[i]) for i in reversed(range(len(feats)))]
        x = self.linear_fuse(maps, size, self.align_corners)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.linear_pred(x)

    def fold_for_inference(self):
        """Inference: fold each stage's residual branch, and move ``linear_fuse``'s per-stage
        shares (BN scale included) before the resize (see the module docstring)."""
        n = len(self.in_channels)
        for i in range(n):
            getattr(self, f"linear_c{i + 1}").fold_for_inference()
        lf = self.linear_fuse
        if not isinstance(lf, FuseStages):
            return  # fused already
        if not (lf.order == ("conv", "norm", "act") and isinstance(lf.norm, BatchNorm2d)
                and isinstance(getattr(lf, "activate", None), nn.ReLU)):
            lf.fold_for_inference()  # at least the conv + BN
            return
        s, t = bn_scale_shift(lf.norm)
        w = lf.conv.weight.numpy().astype(np.float64).reshape(lf.conv.weight.shape[0], -1)
        if lf.conv.bias is not None:
            t = t + s * lf.conv.bias.numpy()
        e = w.shape[0]
        for j, i in enumerate(reversed(range(n))):  # concat order c4, c3, c2, c1
            share = s[:, None] * w[:, j * e:(j + 1) * e]
            name = f"linear_c{i + 1}"
            setattr(self, name, _then_share(getattr(self, name), share))
        self.linear_fuse = SumShiftAct(t, lf.activate)
