"""Pascal Context: the 59-class setting (0 = background ignored) and the 60-class one."""
from ..registry import DATASETS
from .ade import ADE20KDataset
from .custom import CustomDataset

# mmseg's Pascal Context palette is the first 60 colours of ADE20K's
_CONTEXT_PALETTE = [list(c) for c in ADE20KDataset.PALETTE[:60]]


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
