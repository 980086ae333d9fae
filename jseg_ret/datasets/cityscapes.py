"""Cityscapes (19 classes, trainIds with 255 = ignore)."""
from ..registry import DATASETS
from .cityscapes_export import cityscapes_export, cityscapes_result_path
from .custom import CustomDataset

CITYSCAPES_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
                      'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
                      'truck', 'bus', 'train', 'motorcycle', 'bicycle')
CITYSCAPES_PALETTE = [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156],
                      [190, 153, 153], [153, 153, 153], [250, 170, 30], [220, 220, 0],
                      [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
                      [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100],
                      [0, 0, 230], [119, 11, 32]]


@DATASETS.register_module()
class CityscapesDataset(CustomDataset):
    """leftImg8bit/{train,val}/CITY/*_leftImg8bit.png with
    gtFine/{train,val}/CITY/*_gtFine_labelTrainIds.png (from tools/convert_datasets/cityscapes.py).
    """

    CLASSES = CITYSCAPES_CLASSES
    PALETTE = CITYSCAPES_PALETTE

    def __init__(self, **kwargs):
        kwargs.setdefault("img_suffix", "_leftImg8bit.png")
        kwargs.setdefault("seg_map_suffix", "_gtFine_labelTrainIds.png")
        super().__init__(**kwargs)

    def result_path(self, idx, imgfile_prefix):
        """Where the prediction for sample ``idx`` goes: ``<prefix>/<image basename>.png``, the
        flat naming of mmseg's format_results, which the official evaluation script globs."""
        return cityscapes_result_path(imgfile_prefix, self.img_infos[idx]["filename"])

    def export_prediction(self, pred_trainids, idx, imgfile_prefix, to_label_id=True):
        """Write one prediction (trainIds, original size) for the official evaluation."""
        return cityscapes_export(pred_trainids, self.result_path(idx, imgfile_prefix),
                                 to_label_id=to_label_id)

    def results2img(self, results, imgfile_prefix, to_label_id=True, indices=None):
        """mmseg's results2img: write each prediction; returns the written paths."""
        indices = list(range(len(self))) if indices is None else indices
        return [self.export_prediction(pred, idx, imgfile_prefix, to_label_id)
                for pred, idx in zip(results, indices)]
