"""VisRetNet (RMT): the Vision RetNet backbone of SegRet (docs/models.md, section "SegRet";
the retention operator: docs/retention.md).

Tokens are channels-last (B, H, W, C) inside the backbone; each stage's output, taken before its
downsampling, is returned channels-first (B, C, H, W): strides 4, 8, 16, 32 (channels-last when
``out_channels_last``, which a fused SegRet sets).

Retention (Manhattan self-attention), per head n with decay λ_n = log(1 − 2^(−init − range·n/N)):
  whole:       out = softmax(q kᵀ + λ_n (|h_i−h_j| + |w_i−w_j|)) v
  decomposed:  v' = softmax(q_row k_rowᵀ + λ_n |w_i−w_j|) v  (along each row)
               out = softmax(q_col k_colᵀ + λ_n |h_i−h_j|) v'  (along each column)

Execution: one ``execute`` per module for training and inference. The bricks choose kernels
per device (``bricks.Conv2d(channels_last=True)``: oneDNN NHWC convolutions on the CPU, with
their backward primitives; ``bricks.LayerNorm``: one CPU kernel where no gradient is needed).
q and k come from one product with [W_q; d^-1/2·W_k], v from its own (the local enhancement
convolves it; the retention op adds that map as it writes its output). ``fold_for_inference()``
(inference, see ``jseg_ret.models.fuse_for_inference``) builds the q|k weight once, moves the
enhancement's bias into ``out_proj``'s, adds the position encoding's identity (x + conv(x)) to
its conv's centre tap, and folds the eval-mode BatchNorms of the stem and the downsampling convs
into the convs.
"""
import numpy as np

import jittor as jt
from jittor import nn

from ...bricks import (
    CHANNELS_LAST_NORMS,
    GELU,
    Conv2d,
    DropPath,
    LayerNorm,
    build_norm_layer,
    constant_init,
    fold_bn_after,
    fold_sequential_conv_bn,
    is_foldable_bn,
    trunc_normal_init,
)
from ...ops.fused_linear import BiasAct, FusedMLP, add_maps
from ...ops.retention_qkv import retention_qkv
from ...registry import BACKBONES
from .variants import resolve_arch


class DWConv2d(nn.Module):
    """Depthwise conv applied to a channels-last map (B, H, W, C); with ``residual``,
    x + conv(x) (RMT's position encoding)."""

    def __init__(self, dim, kernel_size, padding, residual=False):
        self.conv = Conv2d(dim, dim, kernel_size, 1, padding, groups=dim, channels_last=True)
        self.residual = residual

    def execute(self, x):
        y = self.conv(x)
        return x + y if self.residual else y

    def fold_for_inference(self):
        """Inference: x + conv(x) is one depthwise conv whose centre tap is one larger, and the
        bias is added by a two-threaded pass (``BiasAct``) instead of Jittor's one-threaded one."""
        if self.residual:
            w = self.conv.weight.numpy().copy()
            kh, kw = w.shape[2] // 2, w.shape[3] // 2
            w[:, 0, kh, kw] += 1.0
            self.conv.weight = jt.array(w).stop_grad()
            self.residual = False
        if isinstance(self.conv, Conv2d) and self.conv.bias is not None:
            self.conv = BiasAct(self.conv, nn.Identity(), None)


class RetNetRelPos2d(nn.Module):
    """Holds the per-head decay rates λ_n (buffer ``decay``).

    ``angle`` (the classification RMT's rotary frequencies) is not used by the segmentation
    backbone; it is kept so checkpoints round-trip with the same keys.
    """

    def __init__(self, embed_dim, num_heads, initial_value, heads_range):
        key_dim = embed_dim // num_heads
        angle = 1.0 / (10000 ** np.linspace(0, 1, key_dim // 2))
        self.angle = jt.array(np.repeat(angle, 2).astype(np.float32)).stop_grad()
        n = np.arange(num_heads, dtype=np.float32)
        decay = np.log(1 - 2 ** (-initial_value - heads_range * n / num_heads))
        self.decay = jt.array(decay.astype(np.float32)).stop_grad()


class VisionRetention(nn.Module):
    """Manhattan self-attention with a depthwise 5×5 local enhancement (lepe) on v."""

    def __init__(self, embed_dim, num_heads, value_factor=1, retention_impl="auto"):
        if value_factor != 1:  # RMT's segmentation backbone: values as wide as keys
            raise ValueError(f"VisionRetention: value_factor={value_factor} unsupported; RMT "
                             f"uses 1 (q, k and v split into heads of one width)")
        self.num_heads = num_heads
        self.head_dim = embed_dim * value_factor // num_heads
        self.key_dim = embed_dim // num_heads
        self.scaling = self.key_dim ** -0.5
        self.retention_impl = retention_impl
        self.qk = None  # the fused q/k Linear, after ``fold_for_inference``
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=True)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=True)
        self.v_proj = nn.Linear(embed_dim, embed_dim * value_factor, bias=True)
        self.lepe = DWConv2d(embed_dim * value_factor, 5, 2)
        self.out_proj = nn.Linear(embed_dim * value_factor, embed_dim, bias=True)

    def execute(self, x, decay, decomposed):
        qk = self._qk(x)  # (b, h, w, 2c): q and d^-1/2·k from one product
        v = self.v_proj(x)
        # whole map, or rows then columns (``decomposed``); heads read from qk, v as they lie;
        # the retention's output + lepe(v) in one op
        out = retention_qkv(qk, v, decay, self.num_heads, decomposed, impl=self.retention_impl,
                            add=self.lepe(v))
        return self.out_proj(out)

    def _qk(self, x):
        """q and d^-1/2·k of ``x`` as one Linear [W_q; d^-1/2·W_k] (built once by
        ``fold_for_inference``; in training from the current weights)."""
        if self.qk is not None:
            return self.qk(x)
        return nn.linear(x, *self._qk_weight_bias())

    def _qk_weight_bias(self):
        s = self.scaling
        weight = jt.concat([self.q_proj.weight, self.k_proj.weight * s], 0)
        bias = jt.concat([self.q_proj.bias, self.k_proj.bias * s], 0)
        return weight, bias

    def fold_for_inference(self):
        """Inference: the q/k Linear with the key scale, built once; lepe's bias b moves into
        out_proj's (out_proj(o + conv(v) + b) = out_proj(o + conv(v)) + W b)."""
        if self.qk is not None:
            return
        conv = self.lepe.conv
        if isinstance(conv, Conv2d) and conv.bias is not None:
            w = self.out_proj.weight.numpy().astype(np.float64)
            b = self.out_proj.bias.numpy() + w @ conv.bias.numpy().astype(np.float64)
            self.out_proj.bias = jt.array(b.astype(np.float32)).stop_grad()
            conv.bias = None
        weight, bias = self._qk_weight_bias()
        qk = nn.Linear(weight.shape[1], weight.shape[0])
        qk.weight = jt.array(weight.numpy()).stop_grad()
        qk.bias = jt.array(bias.numpy()).stop_grad()
        del self.q_proj, self.k_proj
        self.qk = qk


class FeedForwardNetwork(nn.Module):
    def __init__(self, embed_dim, ffn_dim):
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.activation = GELU()
        self.fc2 = nn.Linear(ffn_dim, embed_dim)

    def execute(self, x):
        return self.fc2(self.activation(self.fc1(x)))

    def fold_for_inference(self):
        """Inference: fc1, GELU and fc2 as one op (``ops.fused_linear.FusedMLP``: the hidden
        activations stay in cache)."""
        if isinstance(self.fc1, nn.Linear) and type(self.activation) is GELU:
            self.fc1 = FusedMLP(self.fc1, self.activation, "gelu", self.fc2)
            self.activation = nn.Identity()
            self.fc2 = nn.Identity()


class RetBlock(nn.Module):
    """x += pos(x); x += DropPath(γ1·Retention(LN1(x))); x += DropPath(γ2·FFN(LN2(x)))."""

    def __init__(self, embed_dim, num_heads, ffn_dim, drop_path=0.0, layerscale=False,
                 layer_init_value=1e-5, retention_impl="auto"):
        self.layerscale = layerscale
        self.retention_layer_norm = LayerNorm(embed_dim, eps=1e-6)
        self.retention = VisionRetention(embed_dim, num_heads, retention_impl=retention_impl)
        self.drop_path = DropPath(drop_path)
        self.final_layer_norm = LayerNorm(embed_dim, eps=1e-6)
        self.ffn = FeedForwardNetwork(embed_dim, ffn_dim)
        self.pos = DWConv2d(embed_dim, 3, 1, residual=True)
        if layerscale:
            self.gamma_1 = jt.full((1, 1, 1, embed_dim), layer_init_value, "float32")
            self.gamma_2 = jt.full((1, 1, 1, embed_dim), layer_init_value, "float32")

    def execute(self, x, decay, decomposed):
        # residual sums by ``add_maps``: two threads on the CPU at inference (Jittor's element-wise
        # kernels run on one), plain ``+`` in training
        x = self.pos(x)  # x + conv(x)
        y = self.retention(self.retention_layer_norm(x), decay, decomposed)
        x = add_maps(x, self.drop_path(self.gamma_1 * y if self.layerscale else y))
        y = self.ffn(self.final_layer_norm(x))
        return add_maps(x, self.drop_path(self.gamma_2 * y if self.layerscale else y))


def _channels_last_norm(norm_cfg, channels, owner):
    if norm_cfg.get("type") not in CHANNELS_LAST_NORMS:
        raise ValueError(f"{owner}: norm_cfg {norm_cfg!r} must be one of "
                         f"{sorted(CHANNELS_LAST_NORMS)} (RMT's maps are channels-last)")
    return build_norm_layer(norm_cfg, channels, channels_last=True)[1]


class PatchMerging(nn.Module):
    """Downsampling between stages: conv3×3 stride 2 (``reduction``) + norm, channels-last."""

    def __init__(self, dim, out_dim, norm_cfg):
        self.reduction = Conv2d(dim, out_dim, 3, 2, 1, channels_last=True)
        self.norm = _channels_last_norm(norm_cfg, out_dim, "PatchMerging")

    def execute(self, x):  # (b, h, w, c) -> (b, h/2, w/2, c')
        return self.norm(self.reduction(x))

    def fold_for_inference(self):
        """Inference: the eval BN folds into the conv."""
        if is_foldable_bn(self.norm):
            fold_bn_after(self.reduction, self.norm)
            self.norm = nn.Identity()


class BasicLayer(nn.Module):
    """One stage: blocks sharing one ``Relpos`` (decay rates), then optional downsampling."""

    def __init__(self, embed_dim, out_dim, depth, num_heads, init_value, heads_range, ffn_dim,
                 drop_path, decomposed, layerscale, layer_init_value, norm_cfg, downsample,
                 retention_impl):
        self.decomposed = decomposed
        self.Relpos = RetNetRelPos2d(embed_dim, num_heads, init_value, heads_range)
        self.blocks = nn.ModuleList([
            RetBlock(embed_dim, num_heads, ffn_dim, drop_path[i], layerscale, layer_init_value,
                     retention_impl) for i in range(depth)])
        self.downsample = PatchMerging(embed_dim, out_dim, norm_cfg) if downsample else None

    def execute(self, x):
        decay = self.Relpos.decay
        for blk in self.blocks:
            x = blk(x, decay, self.decomposed)
        x_down = self.downsample(x) if self.downsample is not None else x
        return x, x_down


class PatchEmbed(nn.Module):
    """Stem: four 3×3 convs (two of stride 2) with BN and GELU: stride 4, channels-last out."""

    def __init__(self, in_chans, embed_dim, norm_cfg):
        half = embed_dim // 2

        def conv(cin, cout, stride):
            return Conv2d(cin, cout, 3, stride, 1, channels_last=True)

        def norm(c):
            return _channels_last_norm(norm_cfg, c, "PatchEmbed")

        self.proj = nn.Sequential(
            conv(in_chans, half, 2), norm(half), GELU(),
            conv(half, half, 1), norm(half), GELU(),
            conv(half, embed_dim, 2), norm(embed_dim), GELU(),
            conv(embed_dim, embed_dim, 1), norm(embed_dim))

    def execute(self, x):  # NCHW image -> (b, h/4, w/4, c)
        return self.proj(x.permute(0, 2, 3, 1))

    def fold_for_inference(self):
        """Inference: each eval BN folds into the conv before it."""
        fold_sequential_conv_bn(self.proj)


@BACKBONES.register_module()
class VisRetNet(nn.Module):
    """RMT-T/S/B/L (``arch``); the architecture arguments given explicitly override the
    variant's values. ``decomposed_stages``/``layerscale_stages`` are per-stage booleans
    (RMT's ``chunkwise_recurrents``/``layerscales``).

    Stochastic depth grows linearly from 0 to ``drop_path_rate`` over all blocks.
    """

    # RMT's RMT_T/S/B/L constructors, as the published SegRet configs build them
    arch_settings = {
        "t": dict(embed_dims=(64, 128, 256, 512), depths=(2, 2, 8, 2), num_heads=(4, 4, 8, 16),
                  init_values=(2, 2, 2, 2), heads_ranges=(4, 4, 6, 6), mlp_ratios=(3, 3, 3, 3),
                  drop_path_rate=0.1, decomposed_stages=(True, True, False, False),
                  layerscale_stages=(False, False, False, False), layer_init_values=1e-6),
        "s": dict(embed_dims=(64, 128, 256, 512), depths=(3, 4, 18, 4), num_heads=(4, 4, 8, 16),
                  init_values=(2, 2, 2, 2), heads_ranges=(4, 4, 6, 6), mlp_ratios=(4, 4, 3, 3),
                  drop_path_rate=0.15, decomposed_stages=(True, True, True, False),
                  layerscale_stages=(False, False, False, False), layer_init_values=1e-6),
        "b": dict(embed_dims=(80, 160, 320, 512), depths=(4, 8, 25, 8), num_heads=(5, 5, 10, 16),
                  init_values=(2, 2, 2, 2), heads_ranges=(5, 5, 6, 6), mlp_ratios=(4, 4, 3, 3),
                  drop_path_rate=0.4, decomposed_stages=(True, True, True, False),
                  layerscale_stages=(False, False, True, True), layer_init_values=1e-6),
        "l": dict(embed_dims=(112, 224, 448, 640), depths=(4, 8, 25, 8),
                  num_heads=(7, 7, 14, 20), init_values=(2, 2, 2, 2), heads_ranges=(6, 6, 6, 6),
                  mlp_ratios=(4, 4, 3, 3), drop_path_rate=0.5,
                  decomposed_stages=(True, True, True, False),
                  layerscale_stages=(False, False, True, True), layer_init_values=1e-6),
    }

    def __init__(self, arch="t", in_chans=3, embed_dims=None, depths=None, num_heads=None,
                 init_values=None, heads_ranges=None, mlp_ratios=None, drop_path_rate=None,
                 decomposed_stages=None, layerscale_stages=None, layer_init_values=None,
                 norm_cfg=dict(type="BN", requires_grad=True), out_indices=(0, 1, 2, 3),
                 retention_impl="auto", pretrained=None, init_cfg=None):
        cfg = resolve_arch("VisRetNet", arch, self.arch_settings, embed_dims=embed_dims,
                           depths=depths, num_heads=num_heads, init_values=init_values,
                           heads_ranges=heads_ranges, mlp_ratios=mlp_ratios,
                           drop_path_rate=drop_path_rate, decomposed_stages=decomposed_stages,
                           layerscale_stages=layerscale_stages,
                           layer_init_values=layer_init_values)
        per_stage = {k: v for k, v in cfg.items()
                     if k not in ("drop_path_rate", "layer_init_values")}
        dims, depths = cfg["embed_dims"], cfg["depths"]
        num_stages = len(depths)
        for name, values in per_stage.items():
            if len(values) != num_stages:
                raise ValueError(f"VisRetNet: {name} has {len(values)} entries, expected one per "
                                 f"stage ({num_stages})")
        for i, (dim, heads) in enumerate(zip(dims, cfg["num_heads"])):
            if dim % heads:
                raise ValueError(f"VisRetNet: stage {i} embed dim {dim} is not divisible by "
                                 f"{heads} heads")
        self.out_indices = tuple(out_indices)
        # stage outputs NCHW (mmseg's contract); a fused segmentor whose head takes channels-last
        # maps sets True (``EncoderDecoder.fold_for_inference``) and saves two copies per stage
        self.out_channels_last = False
        self.num_stages = num_stages
        self.pretrained = pretrained
        self.patch_embed = PatchEmbed(in_chans, dims[0], norm_cfg)
        dpr = np.linspace(0, cfg["drop_path_rate"], sum(depths)).tolist()
        self.layers = nn.ModuleList()
        for i in range(num_stages):
            start = sum(depths[:i])
            self.layers.append(BasicLayer(
                embed_dim=dims[i], out_dim=dims[i + 1] if i < num_stages - 1 else None,
                depth=depths[i], num_heads=cfg["num_heads"][i],
                init_value=cfg["init_values"][i], heads_range=cfg["heads_ranges"][i],
                ffn_dim=int(cfg["mlp_ratios"][i] * dims[i]),
                drop_path=dpr[start:start + depths[i]], decomposed=cfg["decomposed_stages"][i],
                layerscale=cfg["layerscale_stages"][i],
                layer_init_value=cfg["layer_init_values"], norm_cfg=norm_cfg,
                downsample=i < num_stages - 1, retention_impl=retention_impl))
        self.init_weights()

    def init_weights(self):
        """Linear: trunc-normal std 0.02, bias 0; LayerNorm: 1, 0 (RMT's _init_weights)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_init(m, std=0.02, bias=0.0)
            elif isinstance(m, nn.LayerNorm):
                constant_init(m, 1.0, bias=0.0)

    def execute(self, x):
        x = self.patch_embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x_out, x = layer(x)
            if i in self.out_indices:
                outs.append(x_out if self.out_channels_last else x_out.permute(0, 3, 1, 2))
        return outs


__all__ = ["VisRetNet"]
