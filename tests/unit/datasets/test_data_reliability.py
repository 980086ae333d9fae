"""Reliability of reading data (issue 17): 16-bit images (7), empty or mis-suffixed folders and
EXIF-rotated images with their labels (15), pipeline errors that name the file and obey
on_bad_sample (17)."""
import os

import numpy as np
import pytest
from PIL import Image

from jseg_ret.datasets import BadSampleError, CustomDataset
from jseg_ret.datasets.pipelines import LoadImageFromFile
from jseg_ret.datasets.pipelines.loading import read_image

TRAIN = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
         dict(type="DefaultFormatBundle"), dict(type="Collect", keys=["img", "gt_semantic_seg"])]
CLASSES = ["a", "b", "c"]


def save_pair(root, name, img, seg, img_suffix=".png", **save_kwargs):
    os.makedirs(root / "img", exist_ok=True)
    os.makedirs(root / "ann", exist_ok=True)
    img_path = root / "img" / (name + img_suffix)
    (img if isinstance(img, Image.Image) else Image.fromarray(img)).save(img_path, **save_kwargs)
    Image.fromarray(np.asarray(seg, np.uint8), "L").save(root / "ann" / (name + ".png"))
    return str(img_path)


def dataset(root, pipeline=TRAIN, **kwargs):
    kwargs.setdefault("img_suffix", ".png")
    return CustomDataset(pipeline=pipeline, img_dir=str(root / "img"), ann_dir=str(root / "ann"),
                         classes=CLASSES, **kwargs)


# ---- 7: 16-bit images -----------------------------------------------------------------------
def test_16bit_image_scaled_to_8bit_not_saturated(tmp_path):
    values = np.array([[0, 255, 256, 4095], [32768, 40000, 65280, 65535]], np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    expected = (values >> 8).astype(np.uint8)  # cv2's IMREAD_COLOR rule (mmcv's default)
    for order in ("bgr", "rgb"):
        img = read_image(str(path), "color", order)
        assert img.dtype == np.uint8 and img.shape == (2, 4, 3)
        for c in range(3):
            np.testing.assert_array_equal(img[:, :, c], expected)
    np.testing.assert_array_equal(read_image(str(path), "grayscale"), expected)


def test_16bit_image_through_the_training_pipeline(tmp_path):
    values = np.full((4, 6), 30000, np.uint16)
    save_pair(tmp_path, "s0", values, np.zeros((4, 6)))
    item = dataset(tmp_path)[0]
    assert np.all(item["img"] == 30000 >> 8)  # 117, not 255


def test_float_image_refused_naming_file_and_mode(tmp_path):
    path = tmp_path / "f.tif"
    Image.fromarray(np.full((3, 3), 0.5, np.float32)).save(path)
    with pytest.raises(BadSampleError, match=r"mode F") as err:
        LoadImageFromFile()(dict(img_info=dict(filename=str(path)), img_prefix=None))
    assert err.value.filename == str(path)


# ---- 15: no images found; EXIF orientation --------------------------------------------------
def test_empty_folder_is_an_error_naming_folder_and_suffix(tmp_path):
    os.makedirs(tmp_path / "img")
    with pytest.raises(FileNotFoundError) as err:
        CustomDataset(pipeline=TRAIN, img_dir=str(tmp_path / "img"), classes=CLASSES)
    assert str(tmp_path / "img") in str(err.value) and "'.jpg'" in str(err.value)


def test_wrong_suffix_is_an_error_naming_folder_and_suffix(tmp_path):
    save_pair(tmp_path, "s0", np.zeros((4, 6, 3), np.uint8), np.zeros((4, 6)))
    with pytest.raises(FileNotFoundError) as err:
        dataset(tmp_path, img_suffix=".jpg")
    assert str(tmp_path / "img") in str(err.value) and "'.jpg'" in str(err.value)


@pytest.mark.parametrize("orientation", [3, 6])
def test_exif_rotation_applies_to_image_and_label_alike(tmp_path, orientation):
    # left half class 0, right half class 1; the image is bright where the label is 1
    seg = np.zeros((8, 12), np.uint8)
    seg[:, 6:] = 1
    img = np.where(seg[..., None] == 1, 250, 5).astype(np.uint8).repeat(3, axis=2)
    im = Image.fromarray(img)
    exif = im.getexif()
    exif[0x0112] = orientation
    save_pair(tmp_path, "s0", im, seg, img_suffix=".jpg", exif=exif.tobytes(), quality=100)
    ds = dataset(tmp_path, img_suffix=".jpg")
    item = ds[0]
    bright = item["img"][0] > 128
    assert bright.shape == item["gt_semantic_seg"].shape
    np.testing.assert_array_equal(bright, item["gt_semantic_seg"] == 1)
    # evaluation reads the label alone: the same rule, so it matches the prediction's grid
    gt = ds.get_gt_seg_map(0)
    np.testing.assert_array_equal(gt, item["gt_semantic_seg"])


# ---- 17: pipeline errors name the file and obey on_bad_sample ---------------------------------
def fails_on_tiny(results):
    """A transform that fails as a resize to size 0 did: a plain error with no file name."""
    if min(results["img"].shape[:2]) < 2:
        raise ValueError("imresize: target size (0, 0)")
    return results


def tiny_tree(tmp_path):
    for i, size in enumerate([(4, 6), (1, 1), (4, 6)]):
        save_pair(tmp_path, f"s{i}", np.zeros(size + (3,), np.uint8), np.zeros(size))
    return TRAIN[:2] + [fails_on_tiny] + TRAIN[2:]


def test_pipeline_error_names_image_and_label(tmp_path):
    ds = dataset(tmp_path, pipeline=tiny_tree(tmp_path))
    ds[0]
    with pytest.raises(BadSampleError) as err:
        ds[1]
    msg = str(err.value)
    assert err.value.filename == str(tmp_path / "img" / "s1.png")
    assert "s1.png" in msg and str(tmp_path / "ann" / "s1.png") in msg
    assert "imresize: target size (0, 0)" in msg and "ValueError" in msg
    assert isinstance(err.value.__cause__, ValueError)


def test_pipeline_error_is_skipped_with_skip(tmp_path):
    ds = dataset(tmp_path, pipeline=tiny_tree(tmp_path), on_bad_sample="skip")
    item = ds[1]
    assert item["img_metas"]["sample_idx"] == 2
    assert ds.skipped_files() == ["s1.png"]


def test_fifo_in_the_image_folder_is_a_bad_sample_not_a_hang(tmp_path):
    save_pair(tmp_path, "s0", np.zeros((4, 6, 3), np.uint8), np.zeros((4, 6)))
    os.mkfifo(tmp_path / "img" / "s1.png")
    Image.fromarray(np.zeros((4, 6), np.uint8), "L").save(tmp_path / "ann" / "s1.png")
    ds = dataset(tmp_path)
    with pytest.raises(BadSampleError, match="not a regular file"):
        ds[1]


def test_all_samples_bad_names_the_last_error(tmp_path):
    def always_fails(results):
        raise KeyError("gt_semantic_seg")
    save_pair(tmp_path, "s0", np.zeros((4, 6, 3), np.uint8), np.zeros((4, 6)))
    ds = dataset(tmp_path, pipeline=[always_fails], on_bad_sample="skip")
    with pytest.raises(BadSampleError, match=r"all 1 samples are bad.*KeyError.*gt_semantic_seg"):
        ds[0]
