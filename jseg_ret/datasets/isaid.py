"""iSAID (16 classes incl. background, aerial images cut into 896x896 patches)."""
from ..registry import DATASETS
from .custom import CustomDataset
from .label_maps import ISAID_PALETTE


@DATASETS.register_module()
class iSAIDDataset(CustomDataset):  # noqa: N801  (mmseg's registry name)
    """img_dir/{train,val}/<name>.png with ann_dir/.../<name>_instance_color_RGB.png: class-id
    patches made by tools/convert_datasets/isaid.py. Class 0 (background) is a real class."""

    CLASSES = ('background', 'ship', 'store_tank', 'baseball_diamond', 'tennis_court',
               'basketball_court', 'Ground_Track_Field', 'Bridge', 'Large_Vehicle',
               'Small_Vehicle', 'Helicopter', 'Swimming_pool', 'Roundabout',
               'Soccer_ball_field', 'plane', 'Harbor')
    PALETTE = [list(c) for c in ISAID_PALETTE]

    def __init__(self, **kwargs):
        kwargs.setdefault("img_suffix", ".png")
        kwargs.setdefault("seg_map_suffix", ".png")
        super().__init__(**kwargs)

    def seg_map_name(self, stem):
        return stem + "_instance_color_RGB" + self.seg_map_suffix
