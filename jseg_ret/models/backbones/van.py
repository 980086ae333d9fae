"""VAN: the Visual Attention Network, the backbone of FRM (docs/models.md, section "FRM").

Guo et al., "Visual Attention Network" (CVMJ 2023). The same four-stage pyramid as MSCAN (see
``conv_attention``) with large kernel attention (LKA) as the spatial gating unit — a 21×21
receptive field decomposed into three cheap convolutions:

    out = Conv1×1(DW7×7,dilation 3(DW5×5(u))) ⊙ u

Stage 1 embeds with conv7×7 stride 4 (padding 3) + BN, later stages with conv3×3 stride 2
(padding 1) + BN. After each stage, LayerNorm over channels (ε = 1e-6, as VAN's norm_layer);
outputs NCHW at strides 4, 8, 16, 32. The ImageNet classifier (``head``) is not part of the
segmentation backbone.
"""
from ...registry import BACKBONES
from .conv_attention import ConvAttentionNet, LargeKernelAttention, OverlapPatchEmbed
from .variants import resolve_arch


def _stem(in_chans, embed_dim, norm_cfg, channels_last):
    return OverlapPatchEmbed(patch_size=7, stride=4, in_chans=in_chans, embed_dim=embed_dim,
                             norm_cfg=norm_cfg, channels_last=channels_last)


@BACKBONES.register_module()
class VAN(ConvAttentionNet):
    """VAN-B0..B3 (``arch``); explicit ``embed_dims``/``depths``/``mlp_ratios`` override the
    variant's values. ``drop_path_rate`` is a training choice (the FRM configs set it), not part
    of the variant."""

    # the VAN paper's variants
    arch_settings = {
        "b0": dict(embed_dims=(32, 64, 160, 256), depths=(3, 3, 5, 2), mlp_ratios=(8, 8, 4, 4)),
        "b1": dict(embed_dims=(64, 128, 320, 512), depths=(2, 2, 4, 2), mlp_ratios=(8, 8, 4, 4)),
        "b2": dict(embed_dims=(64, 128, 320, 512), depths=(3, 3, 12, 3), mlp_ratios=(8, 8, 4, 4)),
        "b3": dict(embed_dims=(64, 128, 320, 512), depths=(3, 5, 27, 3), mlp_ratios=(8, 8, 4, 4)),
    }

    def __init__(self, arch="b0", in_chans=3, embed_dims=None, mlp_ratios=None, depths=None,
                 drop_rate=0.0, drop_path_rate=0.1, norm_cfg=dict(type="BN", requires_grad=True),
                 out_indices=(0, 1, 2, 3), pretrained=None, init_cfg=None, channels_last=None):
        cfg = resolve_arch("VAN", arch, self.arch_settings, embed_dims=embed_dims,
                           mlp_ratios=mlp_ratios, depths=depths)
        self.pretrained = pretrained
        self.init_cfg = init_cfg
        super().__init__(_stem, LargeKernelAttention, in_chans=in_chans, drop_rate=drop_rate,
                         drop_path_rate=drop_path_rate, norm_cfg=norm_cfg, stage_norm_eps=1e-6,
                         out_indices=out_indices, name="VAN", channels_last=channels_last, **cfg)


__all__ = ["VAN"]
