"""CustomDataset: image/label file pairs from a folder or a split file (mmseg 0.x layout rules)."""
import logging
import os
import os.path as osp

import numpy as np

from ..registry import DATASETS
from .errors import BadSampleError
from .pipelines import Compose, LoadAnnotations
from .pipelines.loading import image_file_orientation
from .skip_registry import SkipRegistry

logger = logging.getLogger(__name__)

ON_BAD_SAMPLE = ("raise", "skip")


def scan_files(root, suffix):
    """Paths relative to ``root`` of the files ending in ``suffix``, recursively, sorted."""
    found = []
    for dirpath, _, filenames in os.walk(root, followlinks=True):
        for name in filenames:
            if name.endswith(suffix):
                found.append(osp.relpath(osp.join(dirpath, name), root))
    return sorted(found)


def read_split_file(path):
    if not osp.isfile(path):
        raise FileNotFoundError(f"split file {path} not found")
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


@DATASETS.register_module()
class CustomDataset:
    """Pairs ``img_dir/<name><img_suffix>`` with ``ann_dir/<name><seg_map_suffix>``.

    Names come from ``split`` (one name per line, no suffix) or from scanning ``img_dir``
    recursively. Relative ``img_dir``/``ann_dir``/``split`` are joined to ``data_root``.

    An item (after the pipeline) is a dict with ``img`` float32 (3, H, W), ``gt_semantic_seg`` int64
    (H, W) when training, and ``img_metas``; test-mode items from MultiScaleFlipAug hold one entry
    per augmentation in lists. ``img_metas`` also carries ``sample_idx``: the index actually
    returned, which differs from the one asked for when ``on_bad_sample='skip'`` skipped a sample.

    Bad samples (unreadable image, missing label, size mismatch, label values outside
    [0, num_classes) and not ``ignore_index``, or any error a transform raises on the sample)
    raise BadSampleError naming the files with ``on_bad_sample='raise'``; with ``'skip'`` they are
    logged, counted (``num_skipped``) and the next good sample is returned.

    No image found (an empty folder, or ``img_suffix`` matching no file) is a FileNotFoundError
    naming the folder and the suffix.
    """

    CLASSES = None
    PALETTE = None

    def __init__(self, pipeline, img_dir, ann_dir=None, img_suffix=".jpg", seg_map_suffix=".png",
                 split=None, data_root=None, test_mode=False, ignore_index=255,
                 reduce_zero_label=False, classes=None, palette=None, on_bad_sample="raise",
                 gt_seg_map_loader_cfg=None, file_client_args=None):
        if on_bad_sample not in ON_BAD_SAMPLE:
            raise ValueError(f"on_bad_sample={on_bad_sample!r}: expected one of {ON_BAD_SAMPLE}")
        self.pipeline = Compose(pipeline)
        self.img_dir = img_dir
        self.ann_dir = ann_dir
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.split = split
        self.data_root = data_root
        self.test_mode = test_mode
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.on_bad_sample = on_bad_sample
        self.label_map = None
        self.CLASSES, self.PALETTE = self.get_classes_and_palette(classes, palette)
        if test_mode and self.CLASSES is None:
            raise ValueError(f"{type(self).__name__}: test_mode needs class names; pass classes=")
        loader_cfg = dict(reduce_zero_label=reduce_zero_label)
        loader_cfg.update(gt_seg_map_loader_cfg or {})
        self.gt_seg_map_loader = LoadAnnotations(**loader_cfg)
        self._warn_on_label_mismatch()

        if self.data_root is not None:
            if not osp.isabs(self.img_dir):
                self.img_dir = osp.join(self.data_root, self.img_dir)
            if self.ann_dir is not None and not osp.isabs(self.ann_dir):
                self.ann_dir = osp.join(self.data_root, self.ann_dir)
            if self.split is not None and not osp.isabs(self.split):
                self.split = osp.join(self.data_root, self.split)
        if not osp.isdir(self.img_dir):
            raise FileNotFoundError(f"{type(self).__name__}: img_dir {self.img_dir} is not a "
                                    "directory (check data_root / img_dir in the config)")
        if self.ann_dir is not None and not osp.isdir(self.ann_dir):
            raise FileNotFoundError(f"{type(self).__name__}: ann_dir {self.ann_dir} is not a "
                                    "directory (check data_root / ann_dir in the config)")
        self.img_infos = self.load_annotations(self.img_dir, self.img_suffix, self.ann_dir,
                                               self.seg_map_suffix, self.split)
        if not self.img_infos:
            raise FileNotFoundError(
                f"{type(self).__name__}: no images ending in {self.img_suffix!r} found in "
                f"{self.img_dir}" + (f" (split file {self.split} is empty)" if self.split else
                                     " (check img_dir and img_suffix in the config)"))
        self._skips = SkipRegistry(len(self.img_infos))

    # ---- file lists -------------------------------------------------------------------------
    def seg_map_name(self, stem):
        """Label file name for the image name ``stem`` (image name without img_suffix)."""
        return stem + self.seg_map_suffix

    def load_annotations(self, img_dir, img_suffix, ann_dir, seg_map_suffix, split):
        if split is not None:
            stems = read_split_file(split)
        else:
            stems = [f[:-len(img_suffix)] for f in scan_files(img_dir, img_suffix)]
        img_infos = []
        for stem in stems:
            info = dict(filename=stem + img_suffix)
            if ann_dir is not None:
                info["ann"] = dict(seg_map=self.seg_map_name(stem))
            img_infos.append(info)
        logger.info("%s: loaded %d images from %s", type(self).__name__, len(img_infos), img_dir)
        return img_infos

    def __len__(self):
        return len(self.img_infos)

    def get_ann_info(self, idx):
        ann = self.img_infos[idx].get("ann")
        if ann is None:
            raise ValueError(f"{type(self).__name__} has no ann_dir: sample {idx} "
                             f"({self.img_infos[idx]['filename']}) has no label")
        return ann

    # ---- classes ------------------------------------------------------------------------------
    def get_classes_and_palette(self, classes=None, palette=None):
        """CLASSES/PALETTE, or a subset given by ``classes`` (with the label_map that remaps)."""
        if classes is None:
            self.custom_classes = False
            return self.CLASSES, self.PALETTE
        self.custom_classes = True
        if isinstance(classes, str):
            class_names = read_split_file(classes)
        elif isinstance(classes, (tuple, list)):
            class_names = list(classes)
        else:
            raise TypeError(f"classes must be a file name or a list of names, got {classes!r}")
        if self.CLASSES:
            unknown = [c for c in class_names if c not in self.CLASSES]
            if unknown:
                raise ValueError(f"classes {unknown} are not among {type(self).__name__}.CLASSES")
            self.label_map = {i: (class_names.index(c) if c in class_names else 255)
                              for i, c in enumerate(self.CLASSES)}
        return tuple(class_names), self._palette_for(class_names, palette)

    def _palette_for(self, class_names, palette):
        if palette is not None:
            if len(palette) != len(class_names):
                raise ValueError(f"palette has {len(palette)} colours for {len(class_names)} "
                                 "classes")
            return [list(c) for c in palette]
        if self.PALETTE is not None and self.label_map is not None:
            return [self.PALETTE[old] for old, new in sorted(self.label_map.items(),
                                                             key=lambda kv: kv[1]) if new != 255]
        # A fixed random palette, as mmseg (seed 42), without touching the global RNG.
        return np.random.RandomState(42).randint(0, 255, size=(len(class_names), 3)).tolist()

    @property
    def num_classes(self):
        return len(self.CLASSES) if self.CLASSES is not None else None

    # ---- items ----------------------------------------------------------------------------------
    def pre_pipeline(self, results):
        results["seg_fields"] = []
        results["img_prefix"] = self.img_dir
        results["seg_prefix"] = self.ann_dir
        results["ignore_index"] = self.ignore_index
        if self.CLASSES is not None:
            results["num_classes"] = len(self.CLASSES)
        if self.custom_classes:
            results["label_map"] = self.label_map

    def prepare_train_img(self, idx):
        results = dict(img_info=self.img_infos[idx], ann_info=self.get_ann_info(idx))
        self.pre_pipeline(results)
        return self.pipeline(results)

    def prepare_test_img(self, idx):
        results = dict(img_info=self.img_infos[idx])
        self.pre_pipeline(results)
        return self.pipeline(results)

    def file_paths(self, idx):
        """(image path, label path or None) of sample ``idx``, for messages."""
        info = self.img_infos[idx]
        ann = info.get("ann")
        label = osp.join(self.ann_dir, ann["seg_map"]) if ann and self.ann_dir else None
        return osp.join(self.img_dir, info["filename"]), label

    def prepare_img(self, idx):
        """Sample ``idx`` through the pipeline; any error is a BadSampleError naming its files
        (a transform's own error does not know which file it was given)."""
        try:
            return self.prepare_test_img(idx) if self.test_mode else self.prepare_train_img(idx)
        except (BadSampleError, MemoryError, RecursionError):
            raise
        except Exception as e:
            img_path, label_path = self.file_paths(idx)
            notes = "".join(f" ({note})" for note in getattr(e, "__notes__", []))
            label = f" with label {label_path}" if label_path and not self.test_mode else ""
            raise BadSampleError(img_path, f"{type(e).__name__} in the pipeline{label}: "
                                           f"{e}{notes}") from e

    def __getitem__(self, idx):
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} out of range for {type(self).__name__} of {n} samples")
        idx %= n
        last_error = None
        for attempt in range(n):
            i = (idx + attempt) % n
            try:
                data = self.prepare_img(i)
            except BadSampleError as e:
                if self.on_bad_sample == "raise":
                    raise
                self._skips.mark(i)
                logger.warning("skipping bad sample %d: %s", i, e)
                last_error = e
                continue
            return self._tag_sample_idx(data, i)
        # often a pipeline/config problem rather than bad files: show the last error
        raise BadSampleError(self.img_dir, f"all {n} samples are bad; the last: {last_error}") \
            from last_error

    @staticmethod
    def _tag_sample_idx(data, idx):
        metas = data.get("img_metas") if isinstance(data, dict) else None
        for meta in (metas if isinstance(metas, list) else [metas]):
            if isinstance(meta, dict):
                meta["sample_idx"] = idx
        return data

    @property
    def num_skipped(self):
        """Distinct samples skipped as bad so far (by this process and its loader workers)."""
        return self._skips.count

    def skipped_files(self):
        return [self.img_infos[i]["filename"] for i in self._skips.indices()]

    # ---- evaluation -----------------------------------------------------------------------------
    def get_gt_seg_map(self, idx):
        """The label map of sample ``idx`` at its original size, after label_map and
        reduce_zero_label: uint8 (H, W) with ``ignore_index`` for ignored pixels."""
        results = dict(ann_info=self.get_ann_info(idx))
        self.pre_pipeline(results)
        # the label is turned like its image (EXIF orientation; see pipelines/loading.py)
        results["exif_orientation"] = image_file_orientation(self.file_paths(idx)[0])
        self.gt_seg_map_loader(results)
        return results["gt_semantic_seg"]

    get_gt_seg_map_by_idx = get_gt_seg_map  # mmseg's name

    def _warn_on_label_mismatch(self):
        # mmseg keeps the dataset's reduce_zero_label and LoadAnnotations' apart; when they
        # differ, training and evaluation see different labels — almost always a config slip.
        for t in self.pipeline.transforms:
            if isinstance(t, LoadAnnotations) and t.reduce_zero_label != self.reduce_zero_label:
                logger.warning("%s: reduce_zero_label=%s but the pipeline's LoadAnnotations has "
                               "reduce_zero_label=%s; training and evaluation labels will differ",
                               type(self).__name__, self.reduce_zero_label, t.reduce_zero_label)

    def __repr__(self):
        return (f"{type(self).__name__}(img_dir={self.img_dir!r}, ann_dir={self.ann_dir!r}, "
                f"samples={len(self)}, classes={self.num_classes}, test_mode={self.test_mode})")
