"""Pascal Context: the 59-class setting (0 = background ignored) and the 60-class one."""
from ..registry import DATASETS
from .custom import CustomDataset

_CONTEXT_PALETTE = [[120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3],
                    [120, 120, 80], [140, 140, 140], [204, 5, 255], [230, 230, 230], [4, 250, 7],
                    [224, 5, 255], [235, 255, 7], [150, 5, 61], [120, 120, 70], [8, 255, 51],
                    [255, 6, 82], [143, 255, 140], [204, 255, 4], [255, 51, 7], [204, 70, 3],
                    [0, 102, 200], [61, 230, 250], [255, 6, 51], [11, 102, 255], [255, 7, 71],
                    [255, 9, 224], [9, 7, 230], [220, 220, 220], [255, 9, 92], [112, 9, 255],
                    [8, 255, 214], [7, 255, 224], [255, 184, 6], [10, 255, 71], [255, 41, 10],
                    [7, 255, 255], [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7],
                    [255, 122, 8], [0, 255, 20], [255, 8, 41], [255, 5, 153], [6, 51, 255],
                    [235, 12, 255], [160, 150, 20], [0, 163, 255], [140, 140, 140],
                    [250, 10, 15], [20, 255, 0], [31, 255, 0], [255, 31, 0], [255, 224, 0],
                    [153, 255, 0], [0, 0, 255], [255, 71, 0], [0, 235, 255], [0, 173, 255],
                    [31, 0, 255]]


def _require_split(cls_name, split):
    if split is None:
        raise ValueError(f"{cls_name} needs a split file (e.g. "
                         "ImageSets/SegmentationContext/train.txt)")


@DATASETS.register_module()
class PascalContextDataset(CustomDataset):
    """VOC2010/JPEGImages/*.jpg with SegmentationClassContext/*.png; 60 classes incl. background."""

    CLASSES = ('background', 'aeroplane', 'bag', 'bed', 'bedclothes', 'bench', 'bicycle', 'bird',
               'boat', 'book', 'bottle', 'building', 'bus', 'cabinet', 'car', 'cat', 'ceiling',
               'chair', 'cloth', 'computer', 'cow', 'cup', 'curtain', 'dog', 'door', 'fence',
               'floor', 'flower', 'food', 'grass', 'ground', 'horse', 'keyboard', 'light',
               'motorbike', 'mountain', 'mouse', 'person', 'plate', 'platform', 'pottedplant',
               'road', 'rock', 'sheep', 'shelves', 'sidewalk', 'sign', 'sky', 'snow', 'sofa',
               'table', 'track', 'train', 'tree', 'truck', 'tvmonitor', 'wall', 'water',
               'window', 'wood')
    PALETTE = _CONTEXT_PALETTE

    def __init__(self, split, **kwargs):
        _require_split(type(self).__name__, split)
        kwargs.setdefault("img_suffix", ".jpg")
        kwargs.setdefault("seg_map_suffix", ".png")
        kwargs.setdefault("reduce_zero_label", False)
        super().__init__(split=split, **kwargs)


@DATASETS.register_module()
class PascalContextDataset59(CustomDataset):
    """The 59-class setting: label 0 (background) -> 255 and v -> v-1 (reduce_zero_label)."""

    CLASSES = PascalContextDataset.CLASSES[1:]
    PALETTE = _CONTEXT_PALETTE[1:]

    def __init__(self, split, **kwargs):
        _require_split(type(self).__name__, split)
        kwargs.setdefault("img_suffix", ".jpg")
        kwargs.setdefault("seg_map_suffix", ".png")
        kwargs.setdefault("reduce_zero_label", True)
        super().__init__(split=split, **kwargs)
