"""build_dataloader: batches from a segmentation dataset with Jittor's multiprocess loader.

Behaviour made explicit (and testable without MPI):
- Order: ``shuffle`` draws a permutation from ``np.random.default_rng([seed, epoch])``; the epoch
  counts calls to ``iter(loader)``. Same seed -> same order, on every rank.
- Sharding: rank r of w takes ``order[r::w]`` (mmseg's DistributedSampler without padding), so
  the shards are disjoint and together cover the dataset; ``equal_shards=True`` pads by repeating
  the first indices so that every rank has the same count (as mmseg/torch do).
- ``samples_per_gpu`` is the batch of *each* rank (mmseg's meaning). Jittor's own Dataset splits
  one global batch across MPI ranks when ``jt.in_mpi``; this loader replaces that index logic, so
  under MPI the rank and world size come from ``jt.rank`` / ``jt.world_size`` unless given.
- Worker processes reseed numpy's global RNG (which the transforms use) from
  (seed, rank, worker id), as mmseg's worker_init_fn does.
- Collate: arrays of equal shape are stacked (training crops: img (N, 3, H, W) float32,
  gt_semantic_seg (N, H, W) int64 — int32 once a Jittor var, Jittor's default integer type);
  arrays of different shapes stay a list of (1, ...) arrays;
  ``img_metas`` is a list of dicts. Test-mode items (lists, one entry per augmentation) give
  one collated entry per augmentation: img = [(N, 3, H, W) per aug],
  img_metas = [[meta] * N per aug].
"""
import logging

import numpy as np

import jittor as jt
from jittor.dataset import Dataset as JittorDataset

logger = logging.getLogger(__name__)

_ARRAY_KEYS = ("img", "gt_semantic_seg")
_SHAPE_META_KEYS = ("ori_shape", "img_shape", "pad_shape")


def epoch_order(num_samples, shuffle, seed, epoch):
    if shuffle:
        return np.random.default_rng([int(seed), int(epoch)]).permutation(num_samples)
    return np.arange(num_samples)


def shard_indices(indices, rank, world_size, equal_shards=False):
    """Rank ``rank``'s share of ``indices``: every world_size-th, starting at rank."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} / world_size {world_size}: need 0 <= rank < world_size")
    indices = np.asarray(indices, dtype=np.int64)
    if equal_shards and len(indices):
        total = -(-len(indices) // world_size) * world_size
        reps = -(-total // len(indices))
        indices = np.tile(indices, reps)[:total]
    return indices[rank::world_size]


def _collate_values(values):
    first = values[0]
    if all(isinstance(v, np.ndarray) for v in values):
        if all(v.shape == first.shape for v in values):
            return np.stack(values)
        return [v[None] for v in values]  # variable sizes: one (1, ...) array per sample
    if all(isinstance(v, list) for v in values):
        n_aug = len(first)
        if any(len(v) != n_aug for v in values):
            raise ValueError("collate: samples have different numbers of test augmentations: "
                             f"{[len(v) for v in values]}")
        return [_collate_values([v[a] for v in values]) for a in range(n_aug)]
    return list(values)


def collate(batch):
    """Collate a list of dataset items (dicts) into one batch dict (see module doc)."""
    if not batch:
        raise ValueError("collate: empty batch")
    keys = batch[0].keys()
    return {key: _collate_values([item[key] for item in batch]) for key in keys}


def _to_var(value):
    if isinstance(value, np.ndarray):
        return jt.array(value).stop_grad()
    if isinstance(value, list):
        return [_to_var(v) for v in value]
    return value


def _restore_meta_tuples(metas):
    # Jittor's worker ring buffer turns tuples into lists; metas keep mmseg's tuples.
    if isinstance(metas, list):
        for m in metas:
            _restore_meta_tuples(m)
    elif isinstance(metas, dict):
        for key in _SHAPE_META_KEYS:
            if isinstance(metas.get(key), list):
                metas[key] = tuple(metas[key])


class SegDataLoader(JittorDataset):
    """A Jittor Dataset that batches another dataset; use ``build_dataloader``."""

    def __init__(self, dataset, samples_per_gpu, workers_per_gpu=0, shuffle=False, seed=0,
                 drop_last=False, rank=0, world_size=1, equal_shards=False, to_jittor=True,
                 buffer_size=512 * 1024 * 1024):
        super().__init__(batch_size=samples_per_gpu, shuffle=shuffle, drop_last=drop_last,
                         num_workers=workers_per_gpu, buffer_size=buffer_size,
                         keep_numpy_array=True)
        self.seg_dataset = dataset
        self.seed = 0 if seed is None else int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.equal_shards = equal_shards
        self.convert_to_jittor = to_jittor
        self.epoch = -1
        self._worker_seed = None
        self._reported_skips = 0
        self.shard_len = len(shard_indices(np.arange(len(dataset)), self.rank, self.world_size,
                                           equal_shards))
        self.total_len = len(dataset)

    # ---- index logic (replaces Jittor's, including its MPI split) ------------------------------
    def _get_index_list(self):
        order = epoch_order(len(self.seg_dataset), self.shuffle, self.seed, max(self.epoch, 0))
        index_list = shard_indices(order, self.rank, self.world_size, self.equal_shards)
        self.real_len = len(index_list)
        self.real_batch_size = self.batch_size
        self.batch_len = self._num_batches()
        return index_list.astype(np.int32)

    def _num_batches(self):
        if self.drop_last:
            return self.shard_len // self.batch_size
        return -(-self.shard_len // self.batch_size)

    def __len__(self):
        """Batches per epoch on this rank."""
        return self._num_batches()

    def __batch_len__(self):
        return self._num_batches()

    def indices_for_epoch(self, epoch):
        """The sample indices this rank reads in ``epoch`` (for inspection and tests)."""
        order = epoch_order(len(self.seg_dataset), self.shuffle, self.seed, epoch)
        return shard_indices(order, self.rank, self.world_size, self.equal_shards).tolist()

    # ---- items -----------------------------------------------------------------------------------
    def __getitem__(self, idx):
        if self._worker_seed is not None:  # first item in a worker process
            np.random.seed(self._worker_seed)
            self._worker_seed = None
        return self.seg_dataset[int(idx)]

    def _worker_main(self, worker_id, buffer, status):
        self._worker_seed = int(np.random.SeedSequence(
            [self.seed, self.rank, worker_id]).generate_state(1)[0])
        return super()._worker_main(worker_id, buffer, status)

    def collate_batch(self, batch):
        out = collate(batch)
        gt = out.get("gt_semantic_seg")
        if self.convert_to_jittor and isinstance(gt, np.ndarray) and gt.dtype == np.int64:
            # Jittor keeps integer vars as int32 anyway: cast in the worker, where it halves
            # what crosses to the main process.
            out["gt_semantic_seg"] = gt.astype(np.int32)
        return out

    def to_jittor(self, batch):
        if isinstance(batch, dict):
            _restore_meta_tuples(batch.get("img_metas"))
            if self.convert_to_jittor:
                for key in _ARRAY_KEYS:
                    if key in batch:
                        batch[key] = _to_var(batch[key])
        return batch

    def __iter__(self):
        self.epoch += 1
        yield from super().__iter__()
        skipped = getattr(self.seg_dataset, "num_skipped", 0)
        if skipped > self._reported_skips:
            logger.warning("%d bad sample(s) skipped so far in %s (on_bad_sample='skip')",
                           skipped, type(self.seg_dataset).__name__)
            self._reported_skips = skipped


def build_dataloader(dataset, samples_per_gpu, workers_per_gpu=0, shuffle=True, seed=None,
                     drop_last=False, rank=None, world_size=None, equal_shards=False,
                     to_jittor=True, **kwargs):
    """A SegDataLoader over ``dataset`` for this rank.

    ``rank``/``world_size`` default to Jittor's MPI values (``jt.rank``/``jt.world_size`` under
    ``mpirun``) and to 0/1 otherwise. ``to_jittor=False`` keeps numpy arrays.
    """
    if rank is None:
        rank = jt.rank if jt.in_mpi else 0
    if world_size is None:
        world_size = jt.world_size if jt.in_mpi else 1
    if samples_per_gpu < 1:
        raise ValueError(f"samples_per_gpu must be >= 1, got {samples_per_gpu}")
    if workers_per_gpu < 0:
        raise ValueError(f"workers_per_gpu must be >= 0, got {workers_per_gpu}")
    return SegDataLoader(dataset, samples_per_gpu, workers_per_gpu, shuffle, seed, drop_last,
                         rank, world_size, equal_shards, to_jittor, **kwargs)
