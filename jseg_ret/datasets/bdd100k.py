"""BDD100K semantic segmentation (10k images; the 19 Cityscapes classes as trainIds)."""
from ..registry import DATASETS
from .cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from .custom import CustomDataset


@DATASETS.register_module()
class BDD100KDataset(CustomDataset):
    """images/10k/{train,val}/*.jpg with labels/sem_seg/masks/{train,val}/*.png."""

    CLASSES = CITYSCAPES_CLASSES
    PALETTE = CITYSCAPES_PALETTE

    def __init__(self, **kwargs):
        kwargs.setdefault("img_suffix", ".jpg")
        kwargs.setdefault("seg_map_suffix", ".png")
        super().__init__(**kwargs)
