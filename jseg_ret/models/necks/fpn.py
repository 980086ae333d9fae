"""FPN: the feature pyramid of semantic FPN (Lin et al., CVPR 2017; Kirillov et al., CVPR 2019),
as mmseg's ``FPN`` neck, with mmseg's parameter names (``lateral_convs.i.conv``,
``fpn_convs.i.conv``) so mmseg FPN checkpoints map one to one.

    L_i = lateral_i(F_i)                          1×1 ConvModule C_i -> out_channels
    L_i = L_i + up_nearest(L_{i+1})               top-down, from the coarsest level
    P_i = fpn_i(L_i)                              3×3 ConvModule
Extra levels beyond the inputs (``num_outs`` > inputs): max-pool 1×1 stride 2 of the last output,
or stride-2 3×3 convs (``add_extra_convs``), as mmseg.

``refine`` (a neck config, e.g. FRM) is applied to the backbone features before the pyramid. Its
parameters live under ``refine.*``, so everything else keeps mmseg's names: a VAN + semantic-FPN
checkpoint loads into an FRM model with only the refinement module left to train.
"""
import math

import numpy as np

import jittor as jt
from jittor import nn

from ...bricks import ConvModule, constant_
from ...ops import resize
from ...registry import NECKS
from ..builder import build_neck


def xavier_uniform_init(conv, gain=1.0):
    """mmseg initializes FPN convs Xavier-uniform (init_cfg type 'Xavier'), bias 0."""
    out_c, in_c = conv.weight.shape[:2]
    receptive = int(np.prod(conv.weight.shape[2:]))
    bound = gain * math.sqrt(6.0 / ((in_c + out_c) * receptive))
    conv.weight.assign(jt.array(np.random.uniform(-bound, bound, size=conv.weight.shape)
                                .astype(np.float32)))
    if conv.bias is not None:
        constant_(conv.bias, 0.0)


@NECKS.register_module()
class FPN(nn.Module):
    def __init__(self, in_channels, out_channels, num_outs, start_level=0, end_level=-1,
                 add_extra_convs=False, extra_convs_on_inputs=False,
                 relu_before_extra_convs=False, no_norm_on_lateral=False, conv_cfg=None,
                 norm_cfg=None, act_cfg=None, upsample_cfg=dict(mode="nearest"), refine=None,
                 init_cfg=None):
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.relu_before_extra_convs = relu_before_extra_convs
        self.upsample_cfg = dict(upsample_cfg)
        if end_level == -1:
            self.backbone_end_level = self.num_ins
            if num_outs < self.num_ins - start_level:
                raise ValueError(f"FPN: num_outs {num_outs} < the {self.num_ins - start_level} "
                                 f"input levels from start_level {start_level}")
        else:
            self.backbone_end_level = end_level
            if end_level > self.num_ins or num_outs != end_level - start_level:
                raise ValueError(f"FPN: end_level {end_level} needs end_level <= "
                                 f"{self.num_ins} and num_outs == end_level - start_level")
        self.start_level = start_level
        if isinstance(add_extra_convs, str):
            if add_extra_convs not in ("on_input", "on_lateral", "on_output"):
                raise ValueError(f"FPN: add_extra_convs {add_extra_convs!r}: expected "
                                 "'on_input', 'on_lateral', 'on_output' or a bool")
        elif add_extra_convs:
            add_extra_convs = "on_input" if extra_convs_on_inputs else "on_output"
        self.add_extra_convs = add_extra_convs
        self.refine = build_neck(refine) if refine is not None else None

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for i in range(start_level, self.backbone_end_level):
            self.lateral_convs.append(ConvModule(
                in_channels[i], out_channels, 1, conv_cfg=conv_cfg,
                norm_cfg=norm_cfg if not no_norm_on_lateral else None, act_cfg=act_cfg))
            self.fpn_convs.append(ConvModule(out_channels, out_channels, 3, padding=1,
                                             conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                             act_cfg=act_cfg))
        extra_levels = num_outs - self.backbone_end_level + start_level
        if self.add_extra_convs and extra_levels >= 1:
            for i in range(extra_levels):
                c = in_channels[self.backbone_end_level - 1] \
                    if i == 0 and self.add_extra_convs == "on_input" else out_channels
                self.fpn_convs.append(ConvModule(c, out_channels, 3, stride=2, padding=1,
                                                 conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                                 act_cfg=act_cfg))
        for m in list(self.lateral_convs) + list(self.fpn_convs):
            xavier_uniform_init(m.conv)

    def execute(self, inputs):
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"FPN: got {len(inputs)} inputs, expected {len(self.in_channels)} "
                             f"(in_channels {self.in_channels})")
        if self.refine is not None:
            inputs = self.refine(inputs)
        laterals = [conv(inputs[i + self.start_level])
                    for i, conv in enumerate(self.lateral_convs)]
        for i in range(len(laterals) - 1, 0, -1):
            if "scale_factor" in self.upsample_cfg:
                up = resize(laterals[i], **self.upsample_cfg)
            else:
                up = resize(laterals[i], size=laterals[i - 1].shape[2:], **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + up
        used = len(laterals)
        outs = [self.fpn_convs[i](laterals[i]) for i in range(used)]
        if self.num_outs > used:
            if not self.add_extra_convs:
                for _ in range(self.num_outs - used):  # max_pool2d(kernel 1, stride 2)
                    outs.append(outs[-1][:, :, ::2, ::2])
            else:
                source = {"on_input": inputs[self.backbone_end_level - 1],
                          "on_lateral": laterals[-1],
                          "on_output": outs[-1]}[self.add_extra_convs]
                outs.append(self.fpn_convs[used](source))
                for i in range(used + 1, self.num_outs):
                    x = nn.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](x))
        return tuple(outs)
