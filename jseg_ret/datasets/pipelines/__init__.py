"""Data pipeline transforms (PIL + numpy), registered in TRANSFORMS under mmseg's names."""
from .compose import Compose
from .formatting import Collect, DefaultFormatBundle, ImageToTensor, ToTensor
from .geometric import AlignedResize, Pad, RandomCrop, RandomFlip, Resize
from .loading import LoadAnnotations, LoadImageFromFile
from .photometric import Normalize, PhotoMetricDistortion
from .test_time_aug import MultiScaleFlipAug

__all__ = ["Compose", "LoadImageFromFile", "LoadAnnotations", "Resize", "AlignedResize",
           "RandomCrop", "RandomFlip", "Pad", "PhotoMetricDistortion", "Normalize",
           "DefaultFormatBundle", "ImageToTensor", "ToTensor", "Collect", "MultiScaleFlipAug"]
