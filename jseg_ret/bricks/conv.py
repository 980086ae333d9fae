"""A Conv2d that knows which axis holds the channels.

``Conv2d(..., channels_last=True)`` takes and returns NHWC maps (NCHW out with
``channels_first_out``, e.g. a classifier whose logits go on to an NCHW resize); otherwise it is
``nn.Conv2d`` (NCHW). Parameters (``weight`` OIHW, ``bias``) are the same either way, so
checkpoints do not see the layout. How a channels-last conv runs is chosen per call from the
device and dtype:
- a 1×1, stride-1, unpadded, ungrouped conv is the Linear product (pixels × C) @ (C × O);
- on the CPU with oneDNN (float32, fast paths on) oneDNN's NHWC kernels (``ops.mkl_conv``),
  forward and backward;
- elsewhere (CUDA, other dtypes) the NCHW convolution between two permutes.
"""
from jittor import nn

from ..ops.mkl_conv import MklConv, nhwc_conv_applies, pair


class Conv2d(nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, channels_last=False, channels_first_out=False):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias)
        if channels_first_out and not channels_last:
            raise ValueError("Conv2d: channels_first_out is for channels-last inputs "
                             "(channels_last=True)")
        self.channels_last = bool(channels_last)
        self.channels_first_out = bool(channels_first_out)

    @property
    def is_pointwise(self):
        return (tuple(self.weight.shape[2:]) == (1, 1) and self.groups == 1
                and pair(self.stride) == (1, 1) and pair(self.padding) == (0, 0))

    def execute(self, x):
        if not self.channels_last:
            return super().execute(x)
        y = self._channels_last(x)
        return y.permute(0, 3, 1, 2) if self.channels_first_out else y

    def _channels_last(self, x):
        if self.is_pointwise:
            return nn.linear(x, self.weight.reshape(self.weight.shape[0], -1), self.bias)
        if nhwc_conv_applies(x):
            y = MklConv(self, "acdb", "acdb")(x, self.weight)
            return y + self.bias if self.bias is not None else y
        return super().execute(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


__all__ = ["Conv2d"]
