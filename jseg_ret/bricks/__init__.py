from .activation import ACTIVATIONS, GELU, build_activation_layer
from .conv import Conv2d
from .conv_module import ConvModule
from .drop import Dropout2d, DropPath
from .fuse import (
                   Affine,
                   bn_as_affine,
                   bn_scale_shift,
                   fold_bn_after,
                   fold_bn_before,
                   fold_sequential_conv_bn,
                   is_foldable_bn,
)
from .init import (
                   constant_,
                   constant_init,
                   kaiming_init,
                   normal_,
                   normal_init,
                   trunc_normal_,
                   trunc_normal_init,
)
from .norm import (
                   CHANNELS_LAST_NORMS,
                   NORM_LAYERS,
                   BatchNorm2d,
                   GroupNorm,
                   LayerNorm,
                   LayerNorm2d,
                   SyncBatchNorm,
                   build_norm_layer,
)

__all__ = ["ACTIVATIONS", "GELU", "build_activation_layer", "Conv2d", "ConvModule",
           "Affine", "bn_as_affine", "bn_scale_shift", "fold_bn_after", "fold_bn_before",
           "fold_sequential_conv_bn", "is_foldable_bn", "CHANNELS_LAST_NORMS", "LayerNorm",
           "DropPath",
           "Dropout2d", "constant_", "constant_init", "kaiming_init", "normal_", "normal_init",
           "trunc_normal_", "trunc_normal_init", "NORM_LAYERS", "BatchNorm2d", "GroupNorm",
           "LayerNorm2d", "SyncBatchNorm", "build_norm_layer"]
