"""SyntheticDataset: the generated shapes dataset (no download; see synthetic_gen.py)."""
from ..registry import DATASETS
from .custom import CustomDataset
from .synthetic_gen import DEFAULT_NUM_CLASSES, MAX_CLASSES, class_names, class_palette


@DATASETS.register_module()
class SyntheticDataset(CustomDataset):
    """img_dir/{train,val}/*.png with ann_dir/{train,val}/*.png; class 0 = background is a class.

    Made by ``tools/generate_synthetic.py --out data/synthetic``. With another ``--num-classes``,
    pass ``classes=`` the first N names of synthetic_gen.SHAPE_CLASSES.
    """

    CLASSES = class_names(DEFAULT_NUM_CLASSES)
    PALETTE = class_palette(DEFAULT_NUM_CLASSES)

    def __init__(self, **kwargs):
        kwargs.setdefault("img_suffix", ".png")
        kwargs.setdefault("seg_map_suffix", ".png")
        super().__init__(**kwargs)

    def get_classes_and_palette(self, classes=None, palette=None):
        # The first N shape classes (a dataset generated with --num-classes N) need no remapping.
        if classes is not None and not isinstance(classes, str):
            names = tuple(classes)
            if 2 <= len(names) <= MAX_CLASSES and names == class_names(len(names)):
                self.custom_classes = False
                return names, [list(c) for c in palette] if palette else class_palette(len(names))
        return super().get_classes_and_palette(classes, palette)
