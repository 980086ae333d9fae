"""build_dataloader: seeded order, rank shards, collate shapes, worker processes."""
import os

import numpy as np
import pytest
from PIL import Image

from jseg_ret.datasets import CustomDataset, build_dataloader, collate, shard_indices

import jittor as jt


class IndexDataset:
    """Item i: img (3, h, w) filled with i, gt (h, w) filled with i % 5."""

    def __init__(self, n, sizes=None, test_mode=False):
        self.n, self.sizes, self.test_mode = n, sizes, test_mode

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        h, w = self.sizes[i % len(self.sizes)] if self.sizes else (4, 6)
        meta = dict(ori_shape=(h, w, 3), img_shape=(h, w, 3), sample_idx=i, flip=False)
        img = np.full((3, h, w), i, np.float32)
        if self.test_mode:  # two augmentations, as MultiScaleFlipAug returns
            return dict(img=[img, img[:, :, ::-1].copy()], img_metas=[meta, dict(meta, flip=True)])
        return dict(img=img, gt_semantic_seg=np.full((h, w), i % 5, np.int64), img_metas=meta)


def order_of(loader):
    out = []
    for batch in loader:
        out += [m["sample_idx"] for m in batch["img_metas"]]
    return out


def test_seeded_shuffle_is_reproducible():
    ds = IndexDataset(23)
    a = build_dataloader(ds, 4, 0, shuffle=True, seed=7, to_jittor=False)
    b = build_dataloader(ds, 4, 0, shuffle=True, seed=7, to_jittor=False)
    c = build_dataloader(ds, 4, 0, shuffle=True, seed=8, to_jittor=False)
    first, second = order_of(a), order_of(a)
    assert first == order_of(b) and second == order_of(b)   # same seed, same epochs
    assert sorted(first) == list(range(23)) and first != list(range(23))
    assert first != second                                   # a new permutation each epoch
    assert first != order_of(c)
    assert first == a.indices_for_epoch(0) and second == a.indices_for_epoch(1)
    assert order_of(build_dataloader(ds, 4, 0, shuffle=False, to_jittor=False)) == list(range(23))


@pytest.mark.parametrize("n, world", [(10, 3), (12, 4), (5, 8)])
def test_rank_shards_are_disjoint_and_cover(n, world):
    ds = IndexDataset(n)
    shards = [build_dataloader(ds, 2, 0, shuffle=True, seed=1, rank=r, world_size=world,
                               to_jittor=False).indices_for_epoch(0) for r in range(world)]
    flat = [i for s in shards for i in s]
    assert sorted(flat) == list(range(n))          # cover, and no index twice
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    # what each rank actually iterates is its shard
    loader = build_dataloader(ds, 2, 0, shuffle=True, seed=1, rank=1, world_size=world,
                              to_jittor=False)
    assert order_of(loader) == shards[1]
    equal = [shard_indices(np.arange(n), r, world, equal_shards=True) for r in range(world)]
    assert len({len(s) for s in equal}) == 1 and set(np.concatenate(equal)) == set(range(n))


def test_bad_rank_is_an_error():
    with pytest.raises(ValueError, match="rank 3 / world_size 3"):
        build_dataloader(IndexDataset(4), 1, 0, rank=3, world_size=3)


def test_batch_shapes_and_jittor_conversion():
    loader = build_dataloader(IndexDataset(10), 4, 0, shuffle=False, drop_last=True)
    batches = list(loader)
    assert len(loader) == len(batches) == 2
    b = batches[0]
    assert isinstance(b["img"], jt.Var) and tuple(b["img"].shape) == (4, 3, 4, 6)
    assert str(b["img"].dtype) == "float32"
    assert tuple(b["gt_semantic_seg"].shape) == (4, 4, 6)
    # int64 numpy labels; Jittor stores them as its default int32 (auto_convert_64_to_32)
    assert str(b["gt_semantic_seg"].dtype) in ("int32", "int64")
    np.testing.assert_array_equal(b["gt_semantic_seg"].numpy()[1], np.full((4, 6), 1))
    assert isinstance(b["img_metas"], list) and len(b["img_metas"]) == 4
    assert b["img_metas"][0]["ori_shape"] == (4, 6, 3)
    assert len(build_dataloader(IndexDataset(10), 4, 0, drop_last=False)) == 3


def test_collate_keeps_lists_for_variable_sizes_and_augmentations():
    ds = IndexDataset(2, sizes=[(4, 6), (5, 7)])
    b = collate([ds[0], ds[1]])
    assert isinstance(b["img"], list) and [x.shape for x in b["img"]] == [(1, 3, 4, 6),
                                                                         (1, 3, 5, 7)]
    tta = IndexDataset(3, test_mode=True)
    loader = build_dataloader(tta, 1, 0, shuffle=False)
    batch = next(iter(loader))
    assert len(batch["img"]) == 2 and tuple(batch["img"][1].shape) == (1, 3, 4, 6)
    assert [m[0]["flip"] for m in batch["img_metas"]] == [False, True]


def test_workers_give_the_same_batches_and_share_skip_counts(tmp_path):
    for i in range(6):
        os.makedirs(tmp_path / "img", exist_ok=True)
        os.makedirs(tmp_path / "ann", exist_ok=True)
        Image.fromarray(np.full((4, 6, 3), i * 10, np.uint8)).save(tmp_path / "img" / f"{i}.png")
        Image.fromarray(np.full((4, 6), i % 2, np.uint8)).save(tmp_path / "ann" / f"{i}.png")
    (tmp_path / "img" / "4.png").write_bytes(b"broken")
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
                dict(type="DefaultFormatBundle"),
                dict(type="Collect", keys=["img", "gt_semantic_seg"])]

    def dataset():
        return CustomDataset(pipeline=pipeline, img_dir=str(tmp_path / "img"),
                             ann_dir=str(tmp_path / "ann"), img_suffix=".png",
                             classes=["a", "b"], on_bad_sample="skip")

    single = build_dataloader(dataset(), 2, 0, shuffle=True, seed=3, to_jittor=False)
    ds = dataset()
    multi = build_dataloader(ds, 2, 2, shuffle=True, seed=3, to_jittor=False)
    try:
        for b1, b2 in zip(list(single), list(multi)):
            np.testing.assert_array_equal(b1["img"], b2["img"])
            np.testing.assert_array_equal(b1["gt_semantic_seg"], b2["gt_semantic_seg"])
            assert b2["img_metas"][0]["ori_shape"] == (4, 6, 3)  # tuples survive the workers
        assert ds.num_skipped == 1  # counted in a worker, visible here
    finally:
        multi.terminate()
