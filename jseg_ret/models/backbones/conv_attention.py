"""Convolutional-attention networks: the machinery shared by MSCAN (SegNeXt) and VAN (FRM).

Both are four-stage pyramids of the same block, on NCHW maps; they differ only in the stem and
in the spatial gating unit (the "attention" kernel). See docs/models.md, sections "SegNeXt" and
"FRM".

Block (BN = batch norm, γ = per-channel layer scale, initialized to 1e-2):
    x = x + DropPath(γ1 ⊙ Attn(BN1(x)))
    x = x + DropPath(γ2 ⊙ MLP(BN2(x)))
Attention wrapper, with a spatial gating unit SGU:
    Attn(x) = proj_2(SGU(GELU(proj_1(x)))) + x             (proj_* are 1×1 convs)
MLP (1×1 convs around a depthwise 3×3):
    MLP(x) = fc2(GELU(DW3×3(fc1(x))))
Spatial gating units, on u:
    MSCA (SegNeXt):  a = DW5×5(u)
                     a = a + Σ_{k∈{7,11,21}} DW_{k×1}(DW_{1×k}(a))
                     out = Conv1×1(a) ⊙ u
    LKA (VAN):       out = Conv1×1(DW7×7,dilation 3(DW5×5(u))) ⊙ u
Stage i: patch embedding (stride 4 for the first stage, then a 3×3 stride-2 conv + BN), the
blocks, then LayerNorm over channels (``norm{i}``); the normalized map is the stage output.
Outputs have strides 4, 8, 16, 32.

Layout: chosen once, when the network is built (``channels_last=None``: channels-last where
oneDNN's NHWC kernels serve it — the CPU — and the norms have a channels-last form, NCHW
elsewhere). Training and inference run the same ``execute``; the bricks (``bricks.Conv2d``,
``BatchNorm2d``, ``LayerNorm2d``) know which axis holds the channels. Inputs and outputs are
NCHW either way. ``fold_for_inference()`` methods fold eval-mode BatchNorms for inference
(``jseg_ret.models.fuse_for_inference``).
"""
import math

import numpy as np

import jittor as jt
from jittor import nn

from ...bricks import (
    CHANNELS_LAST_NORMS,
    GELU,
    Conv2d,
    DropPath,
    LayerNorm2d,
    bn_as_affine,
    build_norm_layer,
    constant_init,
    fold_bn_after,
    fold_bn_before,
    is_foldable_bn,
    normal_init,
    trunc_normal_init,
)
from ...ops.fused_linear import BiasAct, FusedLinear
from ...ops.mkl_conv import channels_last_preferred


def _identity_or(module_cls, p):
    return module_cls(p) if p > 0 else nn.Identity()


class DWConv(nn.Module):
    """Depthwise 3×3 convolution (child ``dwconv``, as the reference checkpoints name it)."""

    def __init__(self, dim, channels_last=False):
        self.dwconv = Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim, channels_last=channels_last)

    def execute(self, x):
        return self.dwconv(x)


class Mlp(nn.Module):
    """fc2(GELU(DW3×3(fc1(x)))): the depthwise conv mixes positions inside the MLP."""

    def __init__(self, in_features, hidden_features, out_features=None, drop=0.0,
                 channels_last=False):
        out_features = out_features or in_features
        self.fc1 = Conv2d(in_features, hidden_features, 1, channels_last=channels_last)
        self.dwconv = DWConv(hidden_features, channels_last)
        self.act = GELU()
        self.fc2 = Conv2d(hidden_features, out_features, 1, channels_last=channels_last)
        self.drop = _identity_or(nn.Dropout, drop)

    def execute(self, x):
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))

    def fold_for_inference(self):
        """Inference (channels-last): the depthwise conv's bias and the GELU in one pass."""
        conv = self.dwconv.dwconv
        if (isinstance(conv, Conv2d) and conv.channels_last and conv.bias is not None
                and type(self.act) is GELU):
            self.dwconv.dwconv = BiasAct(conv, self.act, "gelu")
            self.act = nn.Identity()


class MultiScaleConvAttention(nn.Module):
    """MSCA, SegNeXt's gating unit: a 5×5 depthwise conv, three strip-conv branches (1×k then
    k×1, k = 7, 11, 21) added to it, a 1×1 conv to mix channels, then a gate on the input."""

    def __init__(self, dim, channels_last=False):
        def dw(k, pad):
            return Conv2d(dim, dim, k, padding=pad, groups=dim, channels_last=channels_last)

        self.conv0 = dw(5, 2)
        self.conv0_1, self.conv0_2 = dw((1, 7), (0, 3)), dw((7, 1), (3, 0))
        self.conv1_1, self.conv1_2 = dw((1, 11), (0, 5)), dw((11, 1), (5, 0))
        self.conv2_1, self.conv2_2 = dw((1, 21), (0, 10)), dw((21, 1), (10, 0))
        self.conv3 = Conv2d(dim, dim, 1, channels_last=channels_last)

    def execute(self, u):
        a = self.conv0(u)
        a = (a + self.conv0_2(self.conv0_1(a)) + self.conv1_2(self.conv1_1(a))
             + self.conv2_2(self.conv2_1(a)))
        return self.conv3(a) * u


class LargeKernelAttention(nn.Module):
    """LKA, VAN's gating unit: a 21×21 receptive field decomposed into a 5×5 depthwise conv, a
    7×7 depthwise conv with dilation 3, and a 1×1 conv, used as a gate on the input."""

    def __init__(self, dim, channels_last=False):
        self.conv0 = Conv2d(dim, dim, 5, padding=2, groups=dim, channels_last=channels_last)
        self.conv_spatial = Conv2d(dim, dim, 7, stride=1, padding=9, groups=dim, dilation=3,
                                   channels_last=channels_last)
        self.conv1 = Conv2d(dim, dim, 1, channels_last=channels_last)

    def execute(self, u):
        return self.conv1(self.conv_spatial(self.conv0(u))) * u


class SpatialAttention(nn.Module):
    """proj_2(SGU(GELU(proj_1(x)))) + x, with SGU = ``gating_unit(dim, channels_last)``."""

    def __init__(self, dim, gating_unit, channels_last=False):
        self.proj_1 = Conv2d(dim, dim, 1, channels_last=channels_last)
        self.activation = GELU()
        self.spatial_gating_unit = gating_unit(dim, channels_last)
        self.proj_2 = Conv2d(dim, dim, 1, channels_last=channels_last)

    def execute(self, x):
        return self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x)))) + x

    def fold_for_inference(self):
        """Inference (channels-last): proj_1, its bias and the GELU as one op."""
        p = self.proj_1
        if (isinstance(p, Conv2d) and p.channels_last and p.is_pointwise
                and type(self.activation) is GELU):
            self.proj_1 = FusedLinear.from_linear(p, self.activation, "gelu")
            self.activation = nn.Identity()


class ConvAttentionBlock(nn.Module):
    """x += DropPath(γ1·Attn(BN1(x))); x += DropPath(γ2·MLP(BN2(x))); γ starts at 1e-2."""

    def __init__(self, dim, gating_unit, mlp_ratio=4.0, drop=0.0, drop_path=0.0,
                 norm_cfg=dict(type="BN", requires_grad=True), layer_scale_init_value=1e-2,
                 channels_last=False):
        self.channels_last = channels_last
        self.norm1 = build_norm_layer(norm_cfg, dim, channels_last=channels_last)[1]
        self.attn = SpatialAttention(dim, gating_unit, channels_last)
        self.drop_path = _identity_or(DropPath, drop_path)
        self.norm2 = build_norm_layer(norm_cfg, dim, channels_last=channels_last)[1]
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop, channels_last=channels_last)
        self.layer_scale_1 = jt.full((dim,), layer_scale_init_value, "float32")
        self.layer_scale_2 = jt.full((dim,), layer_scale_init_value, "float32")

    def _per_channel(self, gamma):
        return gamma if self.channels_last else gamma.reshape(1, -1, 1, 1)

    def execute(self, x):
        x = x + self.drop_path(self._per_channel(self.layer_scale_1) * self.attn(self.norm1(x)))
        return x + self.drop_path(self._per_channel(self.layer_scale_2)
                                  * self.mlp(self.norm2(x)))

    def fold_for_inference(self):
        """Inference: BN2 folds into the MLP's first 1×1 conv; BN1 (whose output is also the
        attention's shortcut) becomes its fixed affine map."""
        if is_foldable_bn(self.norm2):
            fold_bn_before(self.mlp.fc1, self.norm2)
            self.norm2 = nn.Identity()
        if is_foldable_bn(self.norm1):
            self.norm1 = bn_as_affine(self.norm1)


class OverlapPatchEmbed(nn.Module):
    """Downsampling embedding: a k×k conv of stride s with padding k//2 (``proj``), then norm."""

    def __init__(self, patch_size=3, stride=2, in_chans=3, embed_dim=768,
                 norm_cfg=dict(type="BN", requires_grad=True), channels_last=False):
        self.proj = Conv2d(in_chans, embed_dim, patch_size, stride=stride,
                           padding=patch_size // 2, channels_last=channels_last)
        self.norm = build_norm_layer(norm_cfg, embed_dim, channels_last=channels_last)[1]

    def execute(self, x):
        return self.norm(self.proj(x))

    def fold_for_inference(self):
        """Inference: the eval BN folds into the conv before it."""
        if is_foldable_bn(self.norm):
            fold_bn_after(self.proj, self.norm)
            self.norm = nn.Identity()


class ConvAttentionNet(nn.Module):
    """A multi-stage convolutional-attention pyramid.

    ``stem(in_chans, embed_dim, norm_cfg, channels_last)`` builds stage 1's embedding (stride
    4); later stages embed with ``OverlapPatchEmbed(3, 2)``. ``gating_unit(dim, channels_last)``
    builds each block's spatial gating unit. Children are named ``patch_embed{i}``, ``block{i}``
    (a list of blocks) and ``norm{i}`` (LayerNorm over channels, epsilon ``stage_norm_eps``) for
    i = 1..num_stages. Stochastic depth grows linearly from 0 to ``drop_path_rate`` over all
    blocks. ``channels_last``: the internal layout (None: chosen from the device, see the module
    docstring).
    """

    def __init__(self, stem, gating_unit, in_chans=3, embed_dims=(64, 128, 256, 512),
                 mlp_ratios=(4, 4, 4, 4), depths=(3, 4, 6, 3), drop_rate=0.0,
                 drop_path_rate=0.0, norm_cfg=dict(type="BN", requires_grad=True),
                 stage_norm_eps=1e-5, out_indices=(0, 1, 2, 3), name="ConvAttentionNet",
                 channels_last=None):
        num_stages = len(depths)
        for key, values in (("embed_dims", embed_dims), ("mlp_ratios", mlp_ratios)):
            if len(values) != num_stages:
                raise ValueError(f"{name}: {key} has {len(values)} entries ({list(values)}), "
                                 f"expected one per stage ({num_stages}, from depths "
                                 f"{list(depths)})")
        bad = [i for i in out_indices if not 0 <= i < num_stages]
        if bad:
            raise ValueError(f"{name}: out_indices {list(out_indices)} contain {bad}, expected "
                             f"stage indices in 0..{num_stages - 1}")
        if channels_last is None:
            channels_last = channels_last_preferred() and \
                norm_cfg.get("type") in CHANNELS_LAST_NORMS
        cl = self.channels_last = bool(channels_last)
        self.num_stages = num_stages
        self.depths = tuple(depths)
        self.embed_dims = tuple(embed_dims)
        self.out_indices = tuple(out_indices)
        dpr = np.linspace(0, drop_path_rate, sum(depths)).tolist()
        cur = 0
        for i in range(num_stages):
            if i == 0:
                patch_embed = stem(in_chans, embed_dims[0], norm_cfg, cl)
            else:
                patch_embed = OverlapPatchEmbed(3, 2, embed_dims[i - 1], embed_dims[i], norm_cfg,
                                                cl)
            blocks = nn.ModuleList([
                ConvAttentionBlock(embed_dims[i], gating_unit, mlp_ratios[i], drop_rate,
                                   dpr[cur + j], norm_cfg, channels_last=cl)
                for j in range(depths[i])])
            cur += depths[i]
            setattr(self, f"patch_embed{i + 1}", patch_embed)
            setattr(self, f"block{i + 1}", blocks)
            setattr(self, f"norm{i + 1}", LayerNorm2d(embed_dims[i], eps=stage_norm_eps,
                                                     channels_last=cl))
        self.init_weights()

    def init_weights(self):
        """Conv: normal(0, sqrt(2 / fan_out)), fan_out = k_h·k_w·C_out / groups, bias 0;
        Linear: trunc-normal std 0.02; LayerNorm: 1, 0; BN keeps 1, 0 (the reference init)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_init(m, std=0.02, bias=0.0)
            elif isinstance(m, (LayerNorm2d, nn.LayerNorm)):
                constant_init(m, 1.0, bias=0.0)
            elif isinstance(m, nn.Conv2d):
                kh, kw = m.weight.shape[2:]
                fan_out = kh * kw * m.weight.shape[0] // m.groups
                normal_init(m, mean=0.0, std=math.sqrt(2.0 / fan_out), bias=0.0)

    def execute(self, x):
        if self.channels_last:
            x = x.permute(0, 2, 3, 1)
        outs = []
        for i in range(self.num_stages):
            x = getattr(self, f"patch_embed{i + 1}")(x)
            for blk in getattr(self, f"block{i + 1}"):
                x = blk(x)
            x = getattr(self, f"norm{i + 1}")(x)
            if i in self.out_indices:
                outs.append(x.permute(0, 3, 1, 2) if self.channels_last else x)
        return outs


__all__ = ["DWConv", "Mlp", "MultiScaleConvAttention", "LargeKernelAttention",
           "SpatialAttention", "ConvAttentionBlock", "OverlapPatchEmbed", "ConvAttentionNet"]
