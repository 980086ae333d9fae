"""Datasets on tiny fake trees in the real layouts; bad data; the synthetic generator."""
import hashlib
import logging
import os

import numpy as np
import pytest
from PIL import Image

from jseg_ret.config import Config
from jseg_ret.datasets import (
    ADE20KDataset,
    BadSampleError,
    BDD100KDataset,
    CityscapesDataset,
    COCOStuffDataset,
    ConcatDataset,
    CustomDataset,
    PascalContextDataset59,
    PascalVOCDataset,
    SyntheticDataset,
    build_dataset,
    generate_synthetic_dataset,
    iSAIDDataset,
)
from tests.helpers.paths import ROOT

TRAIN = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
         dict(type="DefaultFormatBundle"), dict(type="Collect", keys=["img", "gt_semantic_seg"])]


def write_image(path, h=6, w=8, seed=0, fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format=fmt)
    return arr


def write_label(path, values, palette=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = Image.fromarray(np.asarray(values, np.uint8), "L")
    if palette:  # VOC-style palette PNG: the stored indices are the class ids
        img = img.convert("P")
        img.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
    img.save(path)


def label(h=6, w=8, values=(0, 1)):
    out = np.zeros((h, w), np.uint8)
    out[:, w // 2:] = values[1]
    out[:, :w // 2] = values[0]
    return out


def base_config(name, data_root):
    cfg = Config.fromfile(os.path.join(ROOT, "configs", "_base_", "datasets", name))
    for split in ("train", "val", "test"):
        cfg.data[split]["data_root"] = str(data_root)
    return cfg


def check_items(cfg, expect_len, expect_classes):
    train = build_dataset(cfg.data.train)
    val = build_dataset(dict(cfg.data.val, test_mode=True))
    assert len(train) == expect_len and len(train.CLASSES) == expect_classes
    assert len(train.PALETTE) == expect_classes
    np.random.seed(0)
    item = train[0]
    assert item["img"].dtype == np.float32 and item["img"].ndim == 3 and item["img"].shape[0] == 3
    assert item["gt_semantic_seg"].dtype == np.int64
    assert item["img"].shape[1:] == item["gt_semantic_seg"].shape
    meta = item["img_metas"]
    for key in ("filename", "ori_filename", "ori_shape", "img_shape", "pad_shape",
                "scale_factor", "flip", "flip_direction", "img_norm_cfg"):
        assert key in meta
    tta = val[0]
    assert isinstance(tta["img"], list) and isinstance(tta["img_metas"], list)
    assert tta["img"][0].shape[0] == 3
    return train, val


# ---- one fake tree per dataset ----------------------------------------------------------------
def test_ade20k_layout_and_reduce_zero_label(tmp_path):
    root = tmp_path / "ADEChallengeData2016"
    for split, names in (("training", ["ADE_train_1", "ADE_train_2"]),
                         ("validation", ["ADE_val_1"])):
        for k, n in enumerate(names):
            write_image(str(root / "images" / split / f"{n}.jpg"), seed=k)
            write_label(str(root / "annotations" / split / f"{n}.png"), label(values=(0, 150)))
    cfg = base_config("ade20k.py", root)
    train, val = check_items(cfg, 2, 150)
    assert [i["filename"] for i in train.img_infos] == ["ADE_train_1.jpg", "ADE_train_2.jpg"]
    assert train.img_infos[0]["ann"]["seg_map"] == "ADE_train_1.png"
    gt = val.get_gt_seg_map(0)
    assert set(np.unique(gt).tolist()) == {255, 149}  # 0 -> ignore, 150 -> 149
    assert ADE20KDataset.CLASSES[0] == "wall" and len(ADE20KDataset.CLASSES) == 150


def test_cityscapes_layout(tmp_path):
    root = tmp_path / "cityscapes"
    for split, city in (("train", "aachen"), ("val", "frankfurt")):
        stem = f"{city}_000000_000019"
        write_image(str(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"))
        write_label(str(root / "gtFine" / split / city / f"{stem}_gtFine_labelTrainIds.png"),
                    label(values=(0, 18)))
        write_label(str(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png"),
                    label(values=(7, 33)))  # must not be used as the label
    cfg = base_config("cityscapes.py", root)
    train, val = check_items(cfg, 1, 19)
    assert train.img_infos[0] == dict(
        filename="aachen/aachen_000000_000019_leftImg8bit.png",
        ann=dict(seg_map="aachen/aachen_000000_000019_gtFine_labelTrainIds.png"))
    assert set(np.unique(val.get_gt_seg_map(0)).tolist()) == {0, 18}
    out = val.export_prediction(np.array([[0, 18]]), 0, str(tmp_path / "results"))
    assert out.endswith("results/frankfurt_000000_000019_leftImg8bit.png")
    assert np.array(Image.open(out)).tolist() == [[7, 33]]  # labelIds for the official script
    assert len(build_dataset(base_config("cityscapes_1024x1024.py", root).data.train)) == 1


@pytest.mark.parametrize("config, img_split, ann_values, expected", [
    ("coco-stuff164k.py", "train2017", (0, 170), {0, 170}),
    ("coco-stuff10k.py", "train2014", (0, 171), {255, 170}),  # 1-based, 0 = unlabeled
])
def test_coco_stuff_layouts(tmp_path, config, img_split, ann_values, expected):
    root = tmp_path / "coco"
    val_split = "val2017" if img_split == "train2017" else "test2014"
    for split in (img_split, val_split):
        name = f"COCO_{split}_000000000077"
        write_image(str(root / "images" / split / f"{name}.jpg"))
        write_label(str(root / "annotations" / split / f"{name}_labelTrainIds.png"),
                    label(values=ann_values))
    cfg = base_config(config, root)
    train, val = check_items(cfg, 1, 171)
    seg_map = train.img_infos[0]["ann"]["seg_map"]
    assert seg_map == f"COCO_{img_split}_000000000077_labelTrainIds.png"
    assert set(np.unique(val.get_gt_seg_map(0)).tolist()) == expected
    assert len(COCOStuffDataset.CLASSES) == 171


def test_pascal_voc_aug_concat_and_palette_labels(tmp_path):
    root = tmp_path / "VOC2012"
    for k, name in enumerate(["2007_000032", "2007_000039", "2008_000002"]):
        write_image(str(root / "JPEGImages" / f"{name}.jpg"), seed=k)
    write_label(str(root / "SegmentationClass" / "2007_000032.png"), label(values=(0, 20)),
                palette=True)
    write_label(str(root / "SegmentationClass" / "2007_000039.png"), label(values=(255, 1)),
                palette=True)
    write_label(str(root / "SegmentationClassAug" / "2008_000002.png"), label(values=(15, 0)))
    sets = root / "ImageSets" / "Segmentation"
    os.makedirs(sets)
    (sets / "train.txt").write_text("2007_000032\n")
    (sets / "val.txt").write_text("2007_000039\n")
    (sets / "aug.txt").write_text("2008_000002\n")
    cfg = base_config("pascal_voc12_aug.py", root)
    train, val = check_items(cfg, 2, 21)
    assert isinstance(train, ConcatDataset) and len(train.datasets) == 2
    assert set(np.unique(train.get_gt_seg_map(0)).tolist()) == {0, 20}  # palette indices
    assert set(np.unique(train.get_gt_seg_map(1)).tolist()) == {0, 15}
    assert train[1]["img_metas"]["sample_idx"] == 1
    assert set(np.unique(val.get_gt_seg_map(0)).tolist()) == {255, 1}
    with pytest.raises(ValueError, match="split"):
        PascalVOCDataset(split=None, pipeline=[], img_dir=str(root / "JPEGImages"))


def test_pascal_context_59(tmp_path):
    root = tmp_path / "VOC2010"
    write_image(str(root / "JPEGImages" / "2008_000008.jpg"))
    write_label(str(root / "SegmentationClassContext" / "2008_000008.png"), label(values=(0, 59)))
    sets = root / "ImageSets" / "SegmentationContext"
    os.makedirs(sets)
    (sets / "train.txt").write_text("2008_000008\n")
    (sets / "val.txt").write_text("2008_000008\n")
    cfg = base_config("pascal_context_59.py", root)
    train, val = check_items(cfg, 1, 59)
    assert set(np.unique(val.get_gt_seg_map(0)).tolist()) == {255, 58}
    assert PascalContextDataset59.CLASSES[0] == "aeroplane"


def test_isaid_layout(tmp_path):
    root = tmp_path / "iSAID"
    for split in ("train", "val"):
        write_image(str(root / "img_dir" / split / "P0000_0_896_0_896.png"))
        write_label(str(root / "ann_dir" / split / "P0000_0_896_0_896_instance_color_RGB.png"),
                    label(values=(0, 15)))
    train, val = check_items(base_config("isaid.py", root), 1, 16)
    assert train.img_infos[0]["ann"]["seg_map"] == "P0000_0_896_0_896_instance_color_RGB.png"
    assert set(np.unique(val.get_gt_seg_map(0)).tolist()) == {0, 15}  # background kept
    assert iSAIDDataset.CLASSES[0] == "background"


def test_bdd100k_layout(tmp_path):
    root = tmp_path / "bdd100k"
    for split in ("train", "val"):
        write_image(str(root / "images" / "10k" / split / "0a0a0b1a-7c39d841.jpg"))
        write_label(str(root / "labels" / "sem_seg" / "masks" / split / "0a0a0b1a-7c39d841.png"),
                    label(values=(255, 13)))
    train, val = check_items(base_config("bdd100k.py", root), 1, 19)
    assert set(np.unique(val.get_gt_seg_map(0)).tolist()) == {255, 13}
    assert BDD100KDataset.CLASSES == CityscapesDataset.CLASSES


def test_synthetic_config_end_to_end(tmp_path):
    generate_synthetic_dataset(str(tmp_path), num_train=6, num_val=2, seed=0)
    train, val = check_items(base_config("synthetic.py", tmp_path), 6, 6)
    np.random.seed(1)
    assert train[0]["img"].shape == (3, 128, 128)
    item = val[0]
    assert item["img"][0].shape == (3, 160, 160)  # one fixed test size (one Jittor compile)
    assert item["img_metas"][0]["ori_shape"][:2] == val.get_gt_seg_map(0).shape
    assert SyntheticDataset.CLASSES[0] == "background"


def test_custom_classes_subset_remaps_labels(tmp_path):
    write_image(str(tmp_path / "img" / "a.jpg"))
    write_label(str(tmp_path / "ann" / "a.png"), label(values=(0, 2)))
    (tmp_path / "split.txt").write_text("a\n")
    ds = build_dataset(dict(type="PascalVOCDataset", split=str(tmp_path / "split.txt"),
                            img_dir=str(tmp_path / "img"), ann_dir=str(tmp_path / "ann"),
                            pipeline=TRAIN, classes=["background", "bird"]))
    assert ds.CLASSES == ("background", "bird")
    assert ds.PALETTE == [PascalVOCDataset.PALETTE[0], PascalVOCDataset.PALETTE[3]]
    assert set(np.unique(ds.get_gt_seg_map(0)).tolist()) == {0, 255}  # bicycle (2) dropped


# ---- bad data -----------------------------------------------------------------------------------
def make_custom(tmp_path, n=4, **kwargs):
    for i in range(n):
        write_image(str(tmp_path / "img" / f"s{i}.jpg"), seed=i)
        write_label(str(tmp_path / "ann" / f"s{i}.png"), label(values=(0, 1)))
    kwargs.setdefault("classes", ["a", "b", "c"])
    return CustomDataset(pipeline=TRAIN, img_dir=str(tmp_path / "img"),
                         ann_dir=str(tmp_path / "ann"), **kwargs)


@pytest.mark.parametrize("damage, message", [
    ("truncated", "truncated"),
    ("garbage", "unreadable"),
    ("missing_label", "missing label file"),
    ("label_size", "label size"),
    ("label_values", "label values 7, 9 outside"),
])
def test_bad_samples_raise_naming_the_file(tmp_path, damage, message):
    ds = make_custom(tmp_path)
    img, ann = tmp_path / "img" / "s2.jpg", tmp_path / "ann" / "s2.png"
    if damage == "truncated":
        data = img.read_bytes()
        img.write_bytes(data[:len(data) // 2])
    elif damage == "garbage":
        img.write_bytes(b"not an image at all")
    elif damage == "missing_label":
        ann.unlink()
    elif damage == "label_size":
        write_label(str(ann), np.zeros((5, 8), np.uint8))
    else:
        bad = label(values=(0, 1))
        bad[0, 0], bad[1, 1], bad[2, 2] = 7, 9, 255  # 255 is the ignore index: allowed
        write_label(str(ann), bad)
    for i in (0, 1, 3):
        ds[i]  # the good ones still load
    with pytest.raises(BadSampleError, match=message) as err:
        ds[2]
    bad_file = ann if damage.startswith("label") or damage == "missing_label" else img
    assert str(bad_file) in str(err.value) and err.value.filename == str(bad_file)


def test_skip_mode_returns_next_good_sample_and_counts(tmp_path, caplog):
    ds = make_custom(tmp_path, n=5, on_bad_sample="skip")
    (tmp_path / "img" / "s1.jpg").write_bytes(b"garbage")
    (tmp_path / "ann" / "s2.png").unlink()
    # the package logger stops propagation once a runner has set it up (an earlier test may
    # have): listen on it directly
    package_logger = logging.getLogger("jseg_ret")
    package_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="jseg_ret.datasets.custom"):
            item = ds[1]
    finally:
        package_logger.removeHandler(caplog.handler)
    assert item["img_metas"]["sample_idx"] == 3  # s1 and s2 skipped
    assert ds.num_skipped == 2
    assert "s1.jpg" in caplog.text and "s2.png" in caplog.text
    for i in range(len(ds)):
        ds[i]
    assert ds.num_skipped == 2  # distinct samples, not events
    assert ds.skipped_files() == ["s1.jpg", "s2.jpg"]


def test_config_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        CustomDataset(pipeline=[], img_dir=str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="on_bad_sample"):
        CustomDataset(pipeline=[], img_dir=str(tmp_path), on_bad_sample="ignore")
    with pytest.raises(ValueError, match="classes="):
        CustomDataset(pipeline=[], img_dir=str(tmp_path), test_mode=True)


# ---- synthetic generator ----------------------------------------------------------------------
def tree_digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            h.update(os.path.relpath(path, root).encode())
            h.update(open(path, "rb").read())
    return h.hexdigest()


def test_synthetic_generator_deterministic_varied_and_complete(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    meta = generate_synthetic_dataset(str(a), num_train=24, num_val=8, seed=3)
    generate_synthetic_dataset(str(b), num_train=24, num_val=8, seed=3, nproc=2)
    generate_synthetic_dataset(str(c), num_train=24, num_val=8, seed=4)
    assert tree_digest(a) == tree_digest(b)   # same bytes, whatever the process count
    assert tree_digest(a) != tree_digest(c)
    sizes = set()
    for split, n in (("train", 24), ("val", 8)):
        imgs = sorted(os.listdir(a / "img_dir" / split))
        assert len(imgs) == n and imgs == sorted(os.listdir(a / "ann_dir" / split))
        present = set()
        for name in imgs:
            img = Image.open(a / "img_dir" / split / name)
            lab = np.array(Image.open(a / "ann_dir" / split / name))
            assert img.mode == "RGB" and img.size[::-1] == lab.shape
            assert 96 <= lab.shape[0] <= 192 and 96 <= lab.shape[1] <= 192
            sizes.add(lab.shape)
            present |= set(np.unique(lab).tolist())
        assert present == set(range(6)), split  # every class in every split
    assert len(sizes) > 10
    assert meta["classes"] == list(SyntheticDataset.CLASSES)
    # regenerating with fewer images leaves no stale files behind
    generate_synthetic_dataset(str(a), num_train=3, num_val=1, seed=3)
    assert len(os.listdir(a / "img_dir" / "train")) == 3
