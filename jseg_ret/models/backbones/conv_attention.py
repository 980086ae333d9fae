"""Convolutional-attention networks: the machinery shared by MSCAN (SegNeXt) and VAN (FRM).

Both are four-stage pyramids of the same block, on NCHW maps; they differ only in the stem and
in the spatial gating unit (the "attention" kernel).

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

CPU inference fast path: in eval mode, with every norm a BatchNorm and ``channels_last_ok`` (CPU
+ oneDNN, float32, fast paths on), the network runs channels-last (``execute_channels_last`` next
to each ``execute``: the same equations, 1×1 convs as Linear products, BN as its affine map; see
``bricks/channels_last.py``) and returns the same NCHW outputs.
"""
import math

import jittor as jt
import numpy as np
from jittor import nn

from ...bricks import (GELU, DropPath, LayerNorm2d, build_norm_layer, constant_init,
                       normal_init, trunc_normal_init)
from ...bricks.channels_last import (bn_eval_channels_last, bn_foldable, channels_last_ok,
                                     conv_channels_last)
from ...ops.layer_norm import layer_norm

conv_nhwc = conv_channels_last  # short name for the equations below


def _identity_or(module_cls, p):
    return module_cls(p) if p > 0 else nn.Identity()


class DWConv(nn.Module):
    """Depthwise 3×3 convolution (child ``dwconv``, as the reference checkpoints name it)."""

    def __init__(self, dim):
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

    def execute(self, x):
        return self.dwconv(x)

    def execute_channels_last(self, x):
        return conv_nhwc(self.dwconv, x)


class Mlp(nn.Module):
    """fc2(GELU(DW3×3(fc1(x)))): the depthwise conv mixes positions inside the MLP."""

    def __init__(self, in_features, hidden_features, out_features=None, drop=0.0):
        out_features = out_features or in_features
        self.fc1 = nn.Conv2d(in_features, hidden_features, 1)
        self.dwconv = DWConv(hidden_features)
        self.act = GELU()
        self.fc2 = nn.Conv2d(hidden_features, out_features, 1)
        self.drop = _identity_or(nn.Dropout, drop)

    def execute(self, x):
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))

    def execute_channels_last(self, x):  # eval: dropout is the identity
        return conv_nhwc(self.fc2, self.act(self.dwconv.execute_channels_last(
            conv_nhwc(self.fc1, x))))


class MultiScaleConvAttention(nn.Module):
    """MSCA, SegNeXt's gating unit: a 5×5 depthwise conv, three strip-conv branches (1×k then
    k×1, k = 7, 11, 21) added to it, a 1×1 conv to mix channels, then a gate on the input."""

    def __init__(self, dim):
        self.conv0 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv0_1 = nn.Conv2d(dim, dim, (1, 7), padding=(0, 3), groups=dim)
        self.conv0_2 = nn.Conv2d(dim, dim, (7, 1), padding=(3, 0), groups=dim)
        self.conv1_1 = nn.Conv2d(dim, dim, (1, 11), padding=(0, 5), groups=dim)
        self.conv1_2 = nn.Conv2d(dim, dim, (11, 1), padding=(5, 0), groups=dim)
        self.conv2_1 = nn.Conv2d(dim, dim, (1, 21), padding=(0, 10), groups=dim)
        self.conv2_2 = nn.Conv2d(dim, dim, (21, 1), padding=(10, 0), groups=dim)
        self.conv3 = nn.Conv2d(dim, dim, 1)

    def execute(self, u):
        a = self.conv0(u)
        a = (a + self.conv0_2(self.conv0_1(a)) + self.conv1_2(self.conv1_1(a))
             + self.conv2_2(self.conv2_1(a)))
        return self.conv3(a) * u

    def execute_channels_last(self, u):
        a = conv_nhwc(self.conv0, u)
        a = (a + conv_nhwc(self.conv0_2, conv_nhwc(self.conv0_1, a))
             + conv_nhwc(self.conv1_2, conv_nhwc(self.conv1_1, a))
             + conv_nhwc(self.conv2_2, conv_nhwc(self.conv2_1, a)))
        return conv_nhwc(self.conv3, a) * u


class LargeKernelAttention(nn.Module):
    """LKA, VAN's gating unit: a 21×21 receptive field decomposed into a 5×5 depthwise conv, a
    7×7 depthwise conv with dilation 3, and a 1×1 conv, used as a gate on the input."""

    def __init__(self, dim):
        self.conv0 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv_spatial = nn.Conv2d(dim, dim, 7, stride=1, padding=9, groups=dim, dilation=3)
        self.conv1 = nn.Conv2d(dim, dim, 1)

    def execute(self, u):
        return self.conv1(self.conv_spatial(self.conv0(u))) * u

    def execute_channels_last(self, u):
        return conv_nhwc(self.conv1, conv_nhwc(self.conv_spatial, conv_nhwc(self.conv0, u))) * u


class SpatialAttention(nn.Module):
    """proj_2(SGU(GELU(proj_1(x)))) + x, with SGU = ``gating_unit(dim)``."""

    def __init__(self, dim, gating_unit):
        self.proj_1 = nn.Conv2d(dim, dim, 1)
        self.activation = GELU()
        self.spatial_gating_unit = gating_unit(dim)
        self.proj_2 = nn.Conv2d(dim, dim, 1)

    def execute(self, x):
        return self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x)))) + x

    def execute_channels_last(self, x):
        u = self.activation(conv_nhwc(self.proj_1, x))
        return conv_nhwc(self.proj_2, self.spatial_gating_unit.execute_channels_last(u)) + x


class ConvAttentionBlock(nn.Module):
    """x += DropPath(γ1·Attn(BN1(x))); x += DropPath(γ2·MLP(BN2(x))); γ starts at 1e-2."""

    def __init__(self, dim, gating_unit, mlp_ratio=4.0, drop=0.0, drop_path=0.0,
                 norm_cfg=dict(type="BN", requires_grad=True), layer_scale_init_value=1e-2):
        self.norm1 = build_norm_layer(norm_cfg, dim)[1]
        self.attn = SpatialAttention(dim, gating_unit)
        self.drop_path = _identity_or(DropPath, drop_path)
        self.norm2 = build_norm_layer(norm_cfg, dim)[1]
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.layer_scale_1 = jt.full((dim,), layer_scale_init_value, "float32")
        self.layer_scale_2 = jt.full((dim,), layer_scale_init_value, "float32")

    def execute(self, x):
        c = x.shape[1]
        x = x + self.drop_path(self.layer_scale_1.reshape(1, c, 1, 1)
                               * self.attn(self.norm1(x)))
        return x + self.drop_path(self.layer_scale_2.reshape(1, c, 1, 1)
                                  * self.mlp(self.norm2(x)))

    def execute_channels_last(self, x):  # eval: DropPath is the identity, BN an affine map
        x = x + self.layer_scale_1 * self.attn.execute_channels_last(
            bn_eval_channels_last(self.norm1, x))
        return x + self.layer_scale_2 * self.mlp.execute_channels_last(
            bn_eval_channels_last(self.norm2, x))


class OverlapPatchEmbed(nn.Module):
    """Downsampling embedding: a k×k conv of stride s with padding k//2 (``proj``), then norm."""

    def __init__(self, patch_size=3, stride=2, in_chans=3, embed_dim=768,
                 norm_cfg=dict(type="BN", requires_grad=True)):
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=stride,
                              padding=patch_size // 2)
        self.norm = build_norm_layer(norm_cfg, embed_dim)[1]

    def execute(self, x):
        return self.norm(self.proj(x))

    def execute_channels_last(self, x, xformat="acdb"):
        return bn_eval_channels_last(self.norm, conv_nhwc(self.proj, x, xformat))


class ConvAttentionNet(nn.Module):
    """A multi-stage convolutional-attention pyramid.

    ``stem(in_chans, embed_dim, norm_cfg)`` builds stage 1's embedding (stride 4); later stages
    embed with ``OverlapPatchEmbed(3, 2)``. ``gating_unit(dim)`` builds each block's spatial
    gating unit. Children are named ``patch_embed{i}``, ``block{i}`` (a list of blocks) and
    ``norm{i}`` (LayerNorm over channels, epsilon ``stage_norm_eps``) for i = 1..num_stages.
    Stochastic depth grows linearly from 0 to ``drop_path_rate`` over all blocks.
    """

    def __init__(self, stem, gating_unit, in_chans=3, embed_dims=(64, 128, 256, 512),
                 mlp_ratios=(4, 4, 4, 4), depths=(3, 4, 6, 3), drop_rate=0.0,
                 drop_path_rate=0.0, norm_cfg=dict(type="BN", requires_grad=True),
                 stage_norm_eps=1e-5, out_indices=(0, 1, 2, 3), name="ConvAttentionNet"):
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
        self.num_stages = num_stages
        self.depths = tuple(depths)
        self.embed_dims = tuple(embed_dims)
        self.out_indices = tuple(out_indices)
        dpr = np.linspace(0, drop_path_rate, sum(depths)).tolist()
        cur = 0
        for i in range(num_stages):
            if i == 0:
                patch_embed = stem(in_chans, embed_dims[0], norm_cfg)
            else:
                patch_embed = OverlapPatchEmbed(3, 2, embed_dims[i - 1], embed_dims[i], norm_cfg)
            blocks = nn.ModuleList([
                ConvAttentionBlock(embed_dims[i], gating_unit, mlp_ratios[i], drop_rate,
                                   dpr[cur + j], norm_cfg) for j in range(depths[i])])
            cur += depths[i]
            setattr(self, f"patch_embed{i + 1}", patch_embed)
            setattr(self, f"block{i + 1}", blocks)
            setattr(self, f"norm{i + 1}", LayerNorm2d(embed_dims[i], eps=stage_norm_eps))
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

    def channels_last_applies(self, x):
        """Eval mode, BN everywhere (a fixed affine map), CPU + oneDNN, float32, fast path on."""
        return (channels_last_ok(x) and not self.is_training() and all(
            bn_foldable(m) for m in self.modules()
            if "norm" in type(m).__name__.lower()
            and not isinstance(m, LayerNorm2d)))

    def execute(self, x):
        if self.channels_last_applies(x):
            return self.execute_channels_last(x)
        outs = []
        for i in range(self.num_stages):
            x = getattr(self, f"patch_embed{i + 1}")(x)
            for blk in getattr(self, f"block{i + 1}"):
                x = blk(x)
            x = getattr(self, f"norm{i + 1}")(x)
            if i in self.out_indices:
                outs.append(x)
        return outs

    def execute_channels_last(self, x):
        """``execute`` on NHWC maps (NCHW input and outputs)."""
        outs = []
        for i in range(self.num_stages):
            # the first embedding reads the NCHW image and writes NHWC
            x = getattr(self, f"patch_embed{i + 1}").execute_channels_last(
                x, "abcd" if i == 0 else "acdb")
            for blk in getattr(self, f"block{i + 1}"):
                x = blk.execute_channels_last(x)
            x = layer_norm(getattr(self, f"norm{i + 1}"), x)  # LayerNorm2d on the NHWC map
            if i in self.out_indices:
                outs.append(x.permute(0, 3, 1, 2))
        return outs


def resolve_arch(name, arch, arch_settings, **given):
    """Per-variant defaults: values in ``given`` that are None come from ``arch_settings[arch]``."""
    if arch not in arch_settings:
        raise KeyError(f"{name}: unknown arch {arch!r}; expected one of {sorted(arch_settings)}")
    settings = arch_settings[arch]
    return {k: (settings[k] if v is None and k in settings else v) for k, v in given.items()}


__all__ = ["DWConv", "Mlp", "MultiScaleConvAttention", "LargeKernelAttention",
           "SpatialAttention", "ConvAttentionBlock", "OverlapPatchEmbed", "ConvAttentionNet",
           "resolve_arch"]
