"""BaseDecodeHead: input selection, dropout + conv_seg classifier, and the losses."""
import jittor as jt
from jittor import nn

from ...bricks import Dropout2d, normal_init
from ...ops import resize
from ..builder import build_loss
from ..losses import accuracy


class BaseDecodeHead(nn.Module):
    """Shared by every decode head.

    in_index/input_transform: which backbone outputs the head reads — one map (int index),
    'multiple_select' (a list of maps) or 'resize_concat' (resized to the first and concatenated).
    """

    def __init__(self, in_channels, channels, *, num_classes, dropout_ratio=0.1, conv_cfg=None,
                 norm_cfg=None, act_cfg=dict(type="ReLU"), in_index=-1, input_transform=None,
                 loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
                 ignore_index=255, sampler=None, align_corners=False, init_cfg=None):
        if sampler is not None:
            raise ValueError("decode head: pixel samplers (OHEM) are not supported; remove "
                             "'sampler' from the config")
        self._init_inputs(in_channels, in_index, input_transform)
        self.channels = channels
        self.num_classes = num_classes
        self.dropout_ratio = dropout_ratio
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        loss_cfgs = loss_decode if isinstance(loss_decode, (list, tuple)) else [loss_decode]
        self.loss_decode = nn.ModuleList([build_loss(c) for c in loss_cfgs])
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)
        self.dropout = Dropout2d(dropout_ratio) if dropout_ratio > 0 else None
        normal_init(self.conv_seg, mean=0, std=0.01, bias=0)

    def _init_inputs(self, in_channels, in_index, input_transform):
        if input_transform not in (None, "resize_concat", "multiple_select"):
            raise ValueError(f"input_transform {input_transform!r}: expected None, "
                             "'resize_concat' or 'multiple_select'")
        self.input_transform = input_transform
        self.in_index = in_index
        if input_transform is not None:
            if not isinstance(in_channels, (list, tuple)) or \
                    not isinstance(in_index, (list, tuple)) or len(in_channels) != len(in_index):
                raise ValueError(f"input_transform={input_transform!r} needs in_channels and "
                                 f"in_index lists of equal length, got {in_channels} and "
                                 f"{in_index}")
            self.in_channels = sum(in_channels) if input_transform == "resize_concat" \
                else list(in_channels)
        else:
            if not isinstance(in_channels, int) or not isinstance(in_index, int):
                raise ValueError(f"without input_transform, in_channels and in_index must be "
                                 f"ints, got {in_channels} and {in_index}")
            self.in_channels = in_channels

    def _transform_inputs(self, inputs):
        if self.input_transform == "resize_concat":
            maps = [inputs[i] for i in self.in_index]
            maps = [resize(x, size=maps[0].shape[2:], mode="bilinear",
                           align_corners=self.align_corners) for x in maps]
            return jt.concat(maps, dim=1)
        if self.input_transform == "multiple_select":
            return [inputs[i] for i in self.in_index]
        return inputs[self.in_index]

    def cls_seg(self, feat):
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.conv_seg(feat)

    def forward_train(self, inputs, gt_semantic_seg):
        return self.losses(self(inputs), gt_semantic_seg)

    def forward_test(self, inputs):
        return self(inputs)

    def losses(self, seg_logit, seg_label):
        """Named losses; logits are upsampled to the label size first (as mmseg)."""
        if seg_label.ndim == 4:
            seg_label = seg_label.squeeze(1)
        seg_logit = resize(seg_logit, size=seg_label.shape[1:], mode="bilinear",
                           align_corners=self.align_corners)
        out = {}
        for loss in self.loss_decode:
            value = loss(seg_logit, seg_label, ignore_index=self.ignore_index)
            out[loss.loss_name] = out[loss.loss_name] + value if loss.loss_name in out else value
        out["acc_seg"] = accuracy(seg_logit.detach(), seg_label, self.ignore_index).detach()
        return out
