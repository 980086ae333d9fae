"""Pascal VOC 2012 (21 classes incl. background; 255 = object borders, ignored)."""
from ..registry import DATASETS
from .custom import CustomDataset


@DATASETS.register_module()
class PascalVOCDataset(CustomDataset):
    """VOC2012/JPEGImages/*.jpg with SegmentationClass(Aug)/*.png (palette PNGs: the indices are
    the class ids), listed by a split file (ImageSets/Segmentation/{train,val,aug}.txt)."""

    CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
               'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')
    PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128],
               [0, 128, 128], [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0],
               [192, 128, 0], [64, 0, 128], [192, 0, 128], [64, 128, 128], [192, 128, 128],
               [0, 64, 0], [128, 64, 0], [0, 192, 0], [128, 192, 0], [0, 64, 128]]

    def __init__(self, split, **kwargs):
        if split is None:
            raise ValueError("PascalVOCDataset needs a split file (e.g. "
                             "ImageSets/Segmentation/train.txt)")
        kwargs.setdefault("img_suffix", ".jpg")
        kwargs.setdefault("seg_map_suffix", ".png")
        super().__init__(split=split, **kwargs)
