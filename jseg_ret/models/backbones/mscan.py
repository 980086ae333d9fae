"""MSCAN: the Multi-Scale Convolutional Attention Network, SegNeXt's encoder (docs/models.md,
section "SegNeXt").

Guo et al., "SegNeXt: Rethinking Convolutional Attention Design for Semantic Segmentation"
(NeurIPS 2022). A four-stage pyramid of ``ConvAttentionBlock``s (see ``conv_attention``) whose
spatial gating unit is multi-scale convolutional attention (MSCA):

    a   = DW5×5(u)
    a   = a + DW7×1(DW1×7(a)) + DW11×1(DW1×11(a)) + DW21×1(DW1×21(a))
    out = Conv1×1(a) ⊙ u

Stem (stride 4): conv3×3 s2 (3→C/2), BN, GELU, conv3×3 s2 (C/2→C), BN. Later stages embed with
conv3×3 s2 + BN. After each stage, LayerNorm over channels (ε = 1e-5); outputs NCHW at strides
4, 8, 16, 32.
"""
from jittor import nn

from ...bricks import GELU, Conv2d, build_norm_layer, fold_sequential_conv_bn
from ...registry import BACKBONES
from .conv_attention import ConvAttentionNet, MultiScaleConvAttention
from .variants import resolve_arch


class StemConv(nn.Module):
    """Two 3×3 stride-2 convs with BN (GELU between): 3 → C/2 → C channels, stride 4."""

    def __init__(self, in_channels, out_channels, norm_cfg, channels_last=False):
        half = out_channels // 2
        self.proj = nn.Sequential(
            Conv2d(in_channels, half, 3, stride=2, padding=1, channels_last=channels_last),
            build_norm_layer(norm_cfg, half, channels_last=channels_last)[1],
            GELU(),
            Conv2d(half, out_channels, 3, stride=2, padding=1, channels_last=channels_last),
            build_norm_layer(norm_cfg, out_channels, channels_last=channels_last)[1])

    def execute(self, x):
        return self.proj(x)

    def fold_for_inference(self):
        """Inference: each eval BN folds into the conv before it."""
        fold_sequential_conv_bn(self.proj)


@BACKBONES.register_module()
class MSCAN(ConvAttentionNet):
    """MSCAN-T/S/B/L (``arch``); explicit ``embed_dims``/``depths``/``mlp_ratios``/
    ``drop_path_rate`` override the variant's values (the SegNeXt configs name only ``arch``)."""

    # SegNeXt's published configs (drop path: ADE20K/Cityscapes/COCO-Stuff training)
    arch_settings = {
        "t": dict(embed_dims=(32, 64, 160, 256), depths=(3, 3, 5, 2), mlp_ratios=(8, 8, 4, 4),
                  drop_path_rate=0.1),
        "s": dict(embed_dims=(64, 128, 320, 512), depths=(2, 2, 4, 2), mlp_ratios=(8, 8, 4, 4),
                  drop_path_rate=0.1),
        "b": dict(embed_dims=(64, 128, 320, 512), depths=(3, 3, 12, 3), mlp_ratios=(8, 8, 4, 4),
                  drop_path_rate=0.1),
        "l": dict(embed_dims=(64, 128, 320, 512), depths=(3, 5, 27, 3), mlp_ratios=(8, 8, 4, 4),
                  drop_path_rate=0.3),
    }

    def __init__(self, arch="t", in_chans=3, embed_dims=None, mlp_ratios=None, depths=None,
                 drop_rate=0.0, drop_path_rate=None, num_stages=4,
                 norm_cfg=dict(type="SyncBN", requires_grad=True), out_indices=(0, 1, 2, 3),
                 pretrained=None, init_cfg=None, channels_last=None):
        cfg = resolve_arch("MSCAN", arch, self.arch_settings, embed_dims=embed_dims,
                           mlp_ratios=mlp_ratios, depths=depths, drop_path_rate=drop_path_rate)
        if len(cfg["depths"]) != num_stages:
            raise ValueError(f"MSCAN: num_stages={num_stages} but depths {list(cfg['depths'])} "
                             f"has {len(cfg['depths'])} entries")
        self.pretrained = pretrained
        self.init_cfg = init_cfg
        super().__init__(StemConv, MultiScaleConvAttention, in_chans=in_chans,
                         drop_rate=drop_rate, norm_cfg=norm_cfg, stage_norm_eps=1e-5,
                         out_indices=out_indices, name="MSCAN",
                         channels_last=channels_last, **cfg)


__all__ = ["MSCAN", "StemConv"]
