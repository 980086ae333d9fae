"""Semantic-FPN head (Kirillov et al., "Panoptic Feature Pyramid Networks", CVPR 2019), as mmseg's
``FPNHead`` with its parameter names, and FRM's variant with a pixel-contrastive branch.

For pyramid level i of stride s_i (s_0 = 4): max(1, log2(s_i / s_0)) stages of
conv3×3 -> norm -> ReLU, each followed by a 2× bilinear upsampling when s_i > s_0, so every level
reaches stride 4 (``scale_heads.i``: ConvModules at even indices, upsamplings between them):

    S = Σ_i scale_head_i(P_i)            (summed at stride 4)
    logits = conv_seg(dropout(S))

``ContrastFPNHead`` adds FRM's training-only branch (docs/models.md#frm): a projection head on S
gives pixel embeddings for the supervised pixel-contrastive loss, so ``forward_train`` returns
``loss_ce``, ``loss_contrast`` (already weighted by λ) and ``acc_seg``. Inference never runs it.
"""
import numpy as np

from jittor import nn

from ...bricks import ConvModule
from ...ops import resize
from ...registry import HEADS
from ..builder import build_loss
from ..losses.pixel_contrast import ProjectionHead
from .decode_head import BaseDecodeHead


class Upsample(nn.Module):
    """Parameter-free resize (mmseg's ``Upsample``); a module so Sequential indices match."""

    def __init__(self, scale_factor=2, mode="bilinear", align_corners=False):
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def execute(self, x):
        size = [int(t * self.scale_factor) for t in x.shape[-2:]]
        return resize(x, size=size, mode=self.mode, align_corners=self.align_corners)


@HEADS.register_module()
class FPNHead(BaseDecodeHead):
    def __init__(self, feature_strides, **kwargs):
        kwargs["input_transform"] = "multiple_select"
        super().__init__(**kwargs)
        if len(feature_strides) != len(self.in_channels) or \
                min(feature_strides) != feature_strides[0]:
            raise ValueError(f"FPNHead: feature_strides {list(feature_strides)} need one entry "
                             f"per input ({len(self.in_channels)}), the finest first")
        self.feature_strides = list(feature_strides)
        self.scale_heads = nn.ModuleList()
        for i, stride in enumerate(feature_strides):
            length = max(1, int(np.log2(stride) - np.log2(feature_strides[0])))
            stages = []
            for k in range(length):
                stages.append(ConvModule(self.in_channels[i] if k == 0 else self.channels,
                                         self.channels, 3, padding=1, conv_cfg=self.conv_cfg,
                                         norm_cfg=self.norm_cfg, act_cfg=self.act_cfg))
                if stride != feature_strides[0]:
                    stages.append(Upsample(2, "bilinear", self.align_corners))
            self.scale_heads.append(nn.Sequential(*stages))

    def fuse(self, inputs):
        """The summed stride-4 feature S (before dropout and the classifier)."""
        x = self._transform_inputs(inputs)
        out = self.scale_heads[0](x[0])
        for i in range(1, len(self.feature_strides)):
            out = out + resize(self.scale_heads[i](x[i]), size=out.shape[2:], mode="bilinear",
                               align_corners=self.align_corners)
        return out

    def execute(self, inputs):
        return self.cls_seg(self.fuse(inputs))


@HEADS.register_module()
class ContrastFPNHead(FPNHead):
    """FPNHead + projection head (``proj_head``) + pixel-contrastive loss on its embeddings.

    ``loss_contrast`` is the loss config (its ``loss_weight`` is λ). With λ = 0 the branch is not
    built at all, so the model is exactly an FPNHead (the ablation without contrastive loss).
    """

    def __init__(self, proj_channels=128,
                 loss_contrast=dict(type="PixelContrastLoss", loss_weight=0.1, temperature=0.1,
                                    max_samples=1024, max_views=100),
                 **kwargs):
        super().__init__(**kwargs)
        cfg = dict(loss_contrast)
        cfg.setdefault("ignore_index", self.ignore_index)
        self.with_contrast = float(cfg.get("loss_weight", 0.1)) != 0.0
        if self.with_contrast:
            self.proj_head = ProjectionHead(self.channels, proj_channels)
            self.loss_contrast = build_loss(cfg)

    def forward_train(self, inputs, gt_semantic_seg):
        feat = self.fuse(inputs)
        losses = self.losses(self.cls_seg(feat), gt_semantic_seg)
        if self.with_contrast:
            contrast = self.loss_contrast(self.proj_head(feat), gt_semantic_seg)
            losses[self.loss_contrast.loss_name] = contrast
        return losses
