"""Datasets, pipelines, the synthetic dataset and the data loader."""
from . import pipelines  # noqa: F401  (registers the transforms)
from .ade import ADE20KDataset
from .bdd100k import BDD100KDataset
from .builder import build_dataset
from .cityscapes import CityscapesDataset
from .coco_stuff import COCOStuffDataset
from .custom import CustomDataset
from .dataset_wrappers import ConcatDataset, RepeatDataset
from .errors import BadSampleError
from .isaid import iSAIDDataset
from .loader import SegDataLoader, build_dataloader, collate, shard_indices
from .pascal_context import PascalContextDataset, PascalContextDataset59
from .synthetic import SyntheticDataset
from .synthetic_gen import generate_synthetic_dataset
from .voc import PascalVOCDataset

__all__ = ["build_dataset", "build_dataloader", "collate", "shard_indices", "SegDataLoader",
           "CustomDataset", "ADE20KDataset", "CityscapesDataset", "COCOStuffDataset",
           "PascalVOCDataset", "PascalContextDataset", "PascalContextDataset59", "iSAIDDataset",
           "BDD100KDataset", "SyntheticDataset", "ConcatDataset", "RepeatDataset",
           "BadSampleError", "generate_synthetic_dataset"]
