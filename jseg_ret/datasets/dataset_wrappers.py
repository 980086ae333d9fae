"""ConcatDataset and RepeatDataset (mmseg's wrappers)."""
import bisect

import numpy as np

from ..registry import DATASETS


@DATASETS.register_module()
class ConcatDataset:
    """Several datasets end to end; CLASSES/PALETTE from the first (all must agree)."""

    def __init__(self, datasets, separate_eval=True):
        if not datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.datasets = list(datasets)
        self.separate_eval = separate_eval
        self.CLASSES = self.datasets[0].CLASSES
        self.PALETTE = self.datasets[0].PALETTE
        for d in self.datasets[1:]:
            if d.CLASSES != self.CLASSES:
                raise ValueError(f"ConcatDataset: {type(d).__name__} has classes {d.CLASSES}, "
                                 f"the first dataset {self.CLASSES}")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()
        self.ignore_index = getattr(self.datasets[0], "ignore_index", 255)
        self.reduce_zero_label = getattr(self.datasets[0], "reduce_zero_label", False)
        self.test_mode = getattr(self.datasets[0], "test_mode", False)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def locate(self, idx):
        """(dataset index, sample index inside it) of global index ``idx``."""
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} out of range for ConcatDataset of {len(self)} samples")
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return d, idx - start

    def __getitem__(self, idx):
        d, i = self.locate(idx)
        data = self.datasets[d][i]
        offset = self.cumulative_sizes[d - 1] if d > 0 else 0
        metas = data.get("img_metas") if isinstance(data, dict) else None
        for meta in (metas if isinstance(metas, list) else [metas]):
            if isinstance(meta, dict) and "sample_idx" in meta:
                meta["sample_idx"] += offset  # a global index, for get_gt_seg_map
        return data

    def get_gt_seg_map(self, idx):
        d, i = self.locate(idx)
        return self.datasets[d].get_gt_seg_map(i)

    def file_paths(self, idx):
        d, i = self.locate(idx)
        return self.datasets[d].file_paths(i)

    @property
    def on_bad_sample(self):
        """'skip' only if every part skips (an evaluation must not skip where one raises)."""
        modes = {getattr(d, "on_bad_sample", "raise") for d in self.datasets}
        return "skip" if modes == {"skip"} else "raise"

    get_gt_seg_map_by_idx = get_gt_seg_map

    @property
    def num_skipped(self):
        return sum(getattr(d, "num_skipped", 0) for d in self.datasets)

    @property
    def num_classes(self):
        return len(self.CLASSES) if self.CLASSES is not None else None


@DATASETS.register_module()
class RepeatDataset:
    """``dataset`` repeated ``times`` (longer epochs for small datasets)."""

    def __init__(self, dataset, times):
        if int(times) < 1:
            raise ValueError(f"RepeatDataset times must be >= 1, got {times}")
        self.dataset = dataset
        self.times = int(times)
        self.CLASSES = dataset.CLASSES
        self.PALETTE = dataset.PALETTE
        self.ignore_index = getattr(dataset, "ignore_index", 255)
        self.reduce_zero_label = getattr(dataset, "reduce_zero_label", False)
        self.test_mode = getattr(dataset, "test_mode", False)
        self._ori_len = len(dataset)

    def __len__(self):
        return self.times * self._ori_len

    def __getitem__(self, idx):
        data = self.dataset[idx % self._ori_len]
        offset = idx - idx % self._ori_len
        metas = data.get("img_metas") if isinstance(data, dict) else None
        for meta in (metas if isinstance(metas, list) else [metas]):
            if isinstance(meta, dict) and "sample_idx" in meta:
                meta["sample_idx"] += offset  # this repeat's index, as ConcatDataset's
        return data

    def get_gt_seg_map(self, idx):
        return self.dataset.get_gt_seg_map(idx % self._ori_len)

    def file_paths(self, idx):
        return self.dataset.file_paths(idx % self._ori_len)

    @property
    def on_bad_sample(self):
        return getattr(self.dataset, "on_bad_sample", "raise")

    get_gt_seg_map_by_idx = get_gt_seg_map

    @property
    def num_skipped(self):
        return getattr(self.dataset, "num_skipped", 0)

    @property
    def num_classes(self):
        return len(self.CLASSES) if self.CLASSES is not None else None
