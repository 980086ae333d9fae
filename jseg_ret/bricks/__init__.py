from .activation import ACTIVATIONS, GELU, build_activation_layer
from .conv_module import ConvModule
from .drop import DropPath, Dropout2d
from .init import (constant_, constant_init, kaiming_init, normal_, normal_init, trunc_normal_,
                   trunc_normal_init)
from .norm import NORM_LAYERS, BatchNorm2d, GroupNorm, LayerNorm2d, SyncBatchNorm, build_norm_layer

__all__ = ["ACTIVATIONS", "GELU", "build_activation_layer", "ConvModule", "DropPath",
           "Dropout2d", "constant_", "constant_init", "kaiming_init", "normal_", "normal_init",
           "trunc_normal_", "trunc_normal_init", "NORM_LAYERS", "BatchNorm2d", "GroupNorm",
           "LayerNorm2d", "SyncBatchNorm", "build_norm_layer"]
