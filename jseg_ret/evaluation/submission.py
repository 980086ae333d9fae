"""Benchmark submission formats: where and how each dataset's predictions are written.

A format maps an image's file name (relative to ``img_dir``) to the output PNG's path relative to
the save dir, encodes a prediction of training class indices (H, W) into that PNG's pixel values,
and decodes them back (to score written files against labels). The rule for every dataset: the
PNG holds the class ids in the encoding of the benchmark's own label files, undoing what loading
did (``reduce_zero_label``: +1; Cityscapes: trainIds -> labelIds).

  Cityscapes     labelIds, ``<city>_<seq>_<frame>_leftImg8bit.png`` (flat), and
                 ``cityscapes_results.zip`` of them to upload
  ADE20K         class index + 1 (0 = "other" never predicted), 8-bit grayscale, ``<name>.png``
  Pascal VOC     palette PNG of class indices (0 = background), VOC palette,
                 ``results/VOC2012/Segmentation/comp6_test_cls/<name>.png`` (the server's layout)
  Pascal Context palette PNG of the 60-class indices (the 59-class setting is shifted by one),
                 ``<name>.png``
  COCO-Stuff     8-bit grayscale of the ``*_labelTrainIds.png`` ids: 164k 0..170, 10k 1..171
  iSAID          8-bit grayscale class indices 0..15 (0 = background), ``<name>.png``
  BDD100K        8-bit grayscale trainIds 0..18 (the sem_seg masks' encoding), ``<name>.png``
  other          palette PNG of class indices (+1 with reduce_zero_label), ``<name>.png``
"""
import os.path as osp
import zipfile

import numpy as np
from PIL import Image

from ..datasets.cityscapes_export import cityscapes_result_path, trainid_to_labelid
from ..datasets.label_maps import cityscapes_id_palette, cityscapes_id_to_trainid_lut
from ..utils.fileio import atomic_path


class SubmissionFormat:
    """Class indices (+1 when the dataset reduces label 0 away) as a palette PNG per image."""

    name = "class_index"
    palette_png = True   # False: 8-bit grayscale ('L')
    layout = ""          # sub-folder of the save dir the PNGs go to
    archive = None       # file name of an upload archive made in the save dir, if any

    def __init__(self, dataset):
        self.shift = 1 if getattr(dataset, "reduce_zero_label", False) else 0
        self.num_classes = len(dataset.CLASSES)
        palette = [list(c) for c in (getattr(dataset, "PALETTE", None) or [])]
        # with the shift, PNG index 0 is the class loading dropped: black
        self.palette = [[0, 0, 0]] * self.shift + palette if palette else None

    def relpath(self, img_filename):
        return osp.join(self.layout, osp.splitext(img_filename)[0] + ".png")

    def encode(self, pred):
        pred = np.asarray(pred)
        if pred.ndim != 2:
            raise ValueError(f"prediction must be (H, W), got shape {pred.shape}")
        if pred.size and (pred.min() < 0 or pred.max() >= self.num_classes):
            raise ValueError(f"prediction holds class {pred.min()}..{pred.max()}, outside "
                             f"[0, {self.num_classes})")
        return (pred.astype(np.int64) + self.shift).astype(np.uint8)

    def decode(self, values):
        """PNG values -> training class indices (255 where the benchmark id has none)."""
        values = np.asarray(values).astype(np.int64)
        out = values - self.shift
        out[(out < 0) | (out >= self.num_classes)] = 255
        return out.astype(np.uint8)

    def to_image(self, values):
        if not self.palette_png:
            return Image.fromarray(values, mode="L")
        im = Image.fromarray(values, mode="P")
        flat = np.zeros((256, 3), np.uint8)
        if self.palette:
            flat[:len(self.palette)] = np.asarray(self.palette[:256], np.uint8)
        im.putpalette(flat.reshape(-1).tolist())
        return im

    def save(self, pred, path):
        """Write one prediction atomically (``utils.fileio.atomic_path``); returns ``path``."""
        image = self.to_image(self.encode(pred))  # a bad prediction raises before any write
        with atomic_path(path, "the prediction", suffix=".png", makedirs=True) as tmp:
            image.save(tmp, format="PNG")
        return path


class GrayscaleIndexFormat(SubmissionFormat):
    """Class indices (+1 with reduce_zero_label) as 8-bit grayscale, as the dataset's labels."""

    name = "grayscale_index"
    palette_png = False


class ADE20KFormat(GrayscaleIndexFormat):
    """SceneParsing: 1..150 (index + 1), 8-bit grayscale, one ``<image name>.png`` each."""

    name = "ade20k"

    def __init__(self, dataset):
        super().__init__(dataset)
        self.shift = 1  # the server's ids, whatever reduce_zero_label the config set


class PascalVOCFormat(SubmissionFormat):
    name = "pascal_voc"
    layout = osp.join("results", "VOC2012", "Segmentation", "comp6_test_cls")


class CityscapesFormat(SubmissionFormat):
    """labelIds (cityscapesScripts' encoding) with the labelId palette, flat file names."""

    name = "cityscapes"
    archive = "cityscapes_results.zip"

    def __init__(self, dataset):
        super().__init__(dataset)
        if self.num_classes != 19:
            raise ValueError(f"Cityscapes submissions need the 19 trainId classes; the dataset "
                             f"has {self.num_classes} (custom classes= cannot be mapped to "
                             "labelIds)")
        self.palette = np.asarray(cityscapes_id_palette(), np.uint8).reshape(-1, 3).tolist()
        self._to_trainid = cityscapes_id_to_trainid_lut()

    def relpath(self, img_filename):
        return cityscapes_result_path("", img_filename)

    def encode(self, pred):
        super().encode(pred)  # shape and range checks
        return trainid_to_labelid(pred)

    def decode(self, values):
        return np.take(self._to_trainid, np.asarray(values).astype(np.int64)).astype(np.uint8)


# dataset class name -> format; the first match along the dataset class's MRO wins
FORMATS = {
    "CityscapesDataset": CityscapesFormat,
    "ADE20KDataset": ADE20KFormat,
    "PascalVOCDataset": PascalVOCFormat,
    "PascalContextDataset": SubmissionFormat,
    "PascalContextDataset59": SubmissionFormat,
    "COCOStuffDataset": GrayscaleIndexFormat,
    "iSAIDDataset": GrayscaleIndexFormat,
    "BDD100KDataset": GrayscaleIndexFormat,
}


def submission_format(dataset):
    """The SubmissionFormat of ``dataset`` (by its class or a base class; palette PNGs else)."""
    for cls in type(dataset).__mro__:
        if cls.__name__ in FORMATS:
            return FORMATS[cls.__name__](dataset)
    return SubmissionFormat(dataset)


def write_archive(save_dir, relpaths, archive_name):
    """Zip exactly ``relpaths`` (stored under those names) into ``save_dir/archive_name``."""
    path = osp.join(save_dir, archive_name)
    with atomic_path(path, "the submission archive", suffix=".zip") as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel in relpaths:
                zf.write(osp.join(save_dir, rel), arcname=rel)
    return path


__all__ = ["SubmissionFormat", "GrayscaleIndexFormat", "ADE20KFormat", "PascalVOCFormat",
           "CityscapesFormat", "FORMATS", "submission_format", "write_archive"]
