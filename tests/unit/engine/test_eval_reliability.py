"""Evaluation with bad samples (issue 17): on_bad_sample='skip' skips and counts a bad image once
instead of scoring its substitute twice, and honours skip for bad labels (9); a label of another
size than its image names the file (17)."""
import os

import numpy as np
import pytest
from PIL import Image

from jseg_ret.datasets import BadSampleError, ConcatDataset, CustomDataset, RepeatDataset
from jseg_ret.engine.evaluator import evaluate_dataset
from jseg_ret.evaluation import IoUAccumulator

from jittor import nn

TEST = [dict(type="LoadImageFromFile"), dict(type="ImageToTensor", keys=["img"]),
        dict(type="Collect", keys=["img"])]
CLASSES = ["dark", "bright"]


class ThresholdModel(nn.Module):
    """Predicts 'bright' where the first channel is over 128: deterministic and instant (a
    module, as the evaluator takes: it predicts with a ``fuse_for_inference`` copy)."""

    def simple_test(self, img, meta):
        return [(img.numpy()[0, 0] > 128).astype(np.int64)]


def make_tree(root, n=3, seed=0):
    """Grey images; labels agree with the threshold on 3 of 4 columns (mIoU < 100)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        seg = rng.integers(0, 2, (6, 8)).astype(np.uint8)
        img = np.where(seg == 1, 200, 30).astype(np.uint8)
        seg[:, 0] = 1 - seg[:, 0]
        os.makedirs(root / "img", exist_ok=True)
        os.makedirs(root / "ann", exist_ok=True)
        Image.fromarray(np.repeat(img[..., None], 3, 2)).save(root / "img" / f"s{i}.png")
        Image.fromarray(seg, "L").save(root / "ann" / f"s{i}.png")


def build(root, on_bad_sample):
    return CustomDataset(pipeline=TEST, img_dir=str(root / "img"), ann_dir=str(root / "ann"),
                         img_suffix=".png", classes=CLASSES, test_mode=True,
                         on_bad_sample=on_bad_sample)


def expected(root, indices):
    acc = IoUAccumulator(2)
    for i in indices:
        img = np.asarray(Image.open(root / "img" / f"s{i}.png"))[:, :, 0]
        acc.update((img > 128).astype(np.int64), np.asarray(Image.open(root / "ann" / f"s{i}.png")))
    return acc.summary(class_names=CLASSES)


def damage(root, kind):
    if kind == "image":
        (root / "img" / "s1.png").write_bytes(b"not a png")
        return root / "img" / "s1.png"
    path = root / "ann" / "s1.png"
    if kind == "missing_label":
        path.unlink()
    elif kind == "label_values":
        Image.fromarray(np.full((6, 8), 7, np.uint8), "L").save(path)
    elif kind == "label_size":
        Image.fromarray(np.zeros((5, 8), np.uint8), "L").save(path)
    return path


@pytest.mark.parametrize("kind", ["image", "missing_label", "label_values", "label_size"])
def test_skip_scores_each_good_image_once_and_counts_the_bad(tmp_path, kind):
    make_tree(tmp_path)
    damage(tmp_path, kind)
    summary = evaluate_dataset(ThresholdModel(), build(tmp_path, "skip"), show_progress=False)
    want = expected(tmp_path, [0, 2])
    assert summary["num_images"] == 2 and summary["num_skipped"] == 1
    assert summary["mIoU"] == pytest.approx(want["mIoU"]) and want["mIoU"] < 100
    assert summary["aAcc"] == pytest.approx(want["aAcc"])


@pytest.mark.parametrize("kind", ["image", "missing_label", "label_values", "label_size"])
def test_raise_names_the_bad_file(tmp_path, kind):
    make_tree(tmp_path)
    bad = damage(tmp_path, kind)
    with pytest.raises(BadSampleError) as err:
        evaluate_dataset(ThresholdModel(), build(tmp_path, "raise"), show_progress=False)
    assert str(bad) in str(err.value)
    if kind == "label_size":
        assert "s1.png" in str(err.value) and "(5, 8)" in str(err.value)


def test_clean_dataset_counts_no_skips(tmp_path):
    make_tree(tmp_path)
    summary = evaluate_dataset(ThresholdModel(), build(tmp_path, "skip"), show_progress=False)
    assert summary["num_images"] == 3 and summary["num_skipped"] == 0
    assert summary["mIoU"] == pytest.approx(expected(tmp_path, [0, 1, 2])["mIoU"])


def test_wrappers_keep_sample_indices_and_skip_mode(tmp_path):
    make_tree(tmp_path)
    damage(tmp_path, "image")
    repeat = RepeatDataset(build(tmp_path, "skip"), 2)
    summary = evaluate_dataset(ThresholdModel(), repeat, show_progress=False)
    assert summary["num_images"] == 4 and summary["num_skipped"] == 2
    concat = ConcatDataset([build(tmp_path, "skip"), build(tmp_path, "raise")])
    assert concat.on_bad_sample == "raise"
    with pytest.raises(BadSampleError, match="s1.png"):
        evaluate_dataset(ThresholdModel(), concat, show_progress=False)
