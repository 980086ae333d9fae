"""Dataset converters on tiny fake inputs."""
import json
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from tools.convert_datasets import (
    bdd100k,
    cityscapes,
    coco_stuff10k,
    coco_stuff164k,
    isaid,
    voc_aug,
)
from tools.convert_datasets.convert_common import label_maps


def save(path, arr, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(arr, np.uint8), mode).save(path)


def test_cityscapes_labelids_and_polygons(tmp_path):
    gt = tmp_path / "gtFine"
    # labelIds: road 7 -> 0, sidewalk 8 -> 1, car 26 -> 13, bicycle 33 -> 18, unlabeled 0 -> 255,
    # fence 13 -> 4, guard rail 14 -> 255
    ids = np.array([[7, 8, 26, 33], [0, 13, 14, 7]], np.uint8)
    save(str(gt / "train" / "aachen" / "aachen_000000_000019_gtFine_labelIds.png"), ids)
    poly = dict(imgHeight=10, imgWidth=10, objects=[
        dict(label="road", polygon=[[0, 0], [9, 0], [9, 9], [0, 9]]),
        dict(label="cargroup", polygon=[[2, 2], [5, 2], [5, 5], [2, 5]]),  # drawn as car
        dict(label="person", polygon=[[6, 6], [8, 6], [8, 8]], deleted=1),   # skipped
        dict(label="license plate", polygon=[[0, 0], [1, 0], [1, 1]]),       # id -1: not drawn
        dict(label="sky", polygon=[[7, 0], [9, 0], [9, 1], [7, 1]]),
    ])
    poly_path = gt / "val" / "frankfurt" / "frankfurt_000000_000294_gtFine_polygons.json"
    os.makedirs(poly_path.parent)
    poly_path.write_text(json.dumps(poly))
    assert cityscapes.main([str(tmp_path), "--nproc", "2"]) == 0

    out = np.array(Image.open(
        gt / "train" / "aachen" / "aachen_000000_000019_gtFine_labelTrainIds.png"))
    assert out.tolist() == [[0, 1, 13, 18], [255, 4, 255, 0]]
    out = np.array(Image.open(str(poly_path).replace("_polygons.json", "_labelTrainIds.png")))
    assert out.shape == (10, 10)
    assert out[9, 0] == 0 and out[3, 3] == 13 and out[0, 8] == 10 and out[7, 7] == 0
    assert out[0, 0] == 0  # the license plate left the road alone
    assert (tmp_path / "train.txt").read_text() == "aachen/aachen_000000_000019\n"
    assert (tmp_path / "val.txt").read_text() == "frankfurt/frankfurt_000000_000294\n"


def test_cityscapes_table_is_the_official_one():
    lut = label_maps.cityscapes_id_to_trainid_lut()
    train_ids = [int(lut[i]) for i in range(34)]
    assert sorted(t for t in train_ids if t != 255) == list(range(19))
    assert [i for i in range(34) if lut[i] != 255] == [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23,
                                                       24, 25, 26, 27, 28, 31, 32, 33]


def test_coco_stuff164k_182_to_171(tmp_path):
    raw = np.array([[0, 11, 12, 181], [255, 90, 91, 40]], np.uint8)
    save(str(tmp_path / "annotations" / "train2017" / "000000000009.png"), raw)
    save(str(tmp_path / "annotations" / "val2017" / "000000000139.png"), raw)
    assert coco_stuff164k.main([str(tmp_path)]) == 0
    out = np.array(Image.open(tmp_path / "annotations" / "train2017" /
                              "000000000009_labelTrainIds.png"))
    # 11 and 90 are unused thing ids; 12 is the 12th used id (index 11); 91 -> 80; 40 -> 36
    assert out.tolist() == [[0, 255, 11, 170], [255, 255, 80, 36]]
    assert (tmp_path / "annotations" / "val2017" / "000000000139_labelTrainIds.png").exists()
    lut = label_maps.coco_stuff164k_lut()
    assert len({int(v) for v in lut} - {255}) == 171


def test_coco_stuff10k_mat(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    name = "COCO_train2014_000000000077"
    save(str(tmp_path / "images" / f"{name}.jpg"), np.zeros((2, 3, 3)))
    save(str(tmp_path / "images" / "COCO_test.jpg"), np.zeros((2, 3, 3)))
    s = np.array([[0, 1, 12], [13, 182, 92]], np.uint16)  # 1-based raw ids, 0 = unlabeled
    os.makedirs(tmp_path / "annotations")
    scipy_io.savemat(str(tmp_path / "annotations" / f"{name}.mat"), {"S": s})
    scipy_io.savemat(str(tmp_path / "annotations" / "COCO_test.mat"), {"S": s})
    os.makedirs(tmp_path / "imageLists")
    (tmp_path / "imageLists" / "train.txt").write_text(name + "\n")
    (tmp_path / "imageLists" / "test.txt").write_text("COCO_test\n")
    out_dir = tmp_path / "out"
    assert coco_stuff10k.main([str(tmp_path), "-o", str(out_dir)]) == 0
    out = np.array(Image.open(out_dir / "annotations" / "train2014" / f"{name}_labelTrainIds.png"))
    # train ids 1..171 (0 unlabeled): 12 is unused -> 0, 13 -> 12, 182 -> 171, 92 -> 81
    assert out.tolist() == [[0, 1, 0], [12, 171, 81]]
    assert (out_dir / "images" / "train2014" / f"{name}.jpg").exists()
    assert (out_dir / "images" / "test2014" / "COCO_test.jpg").exists()
    assert (tmp_path / "images" / f"{name}.jpg").exists()  # copied, not moved


def test_voc_aug(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    sets = tmp_path / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation"
    os.makedirs(sets)
    (sets / "train.txt").write_text("a\nb\n")
    (sets / "val.txt").write_text("c\n")
    cls = tmp_path / "SBD" / "dataset" / "cls"
    os.makedirs(cls)
    seg = np.array([[0, 15], [255, 1]], np.uint8)
    scipy_io.savemat(str(cls / "d.mat"), {"GTcls": {"Segmentation": seg, "Boundaries": 0,
                                                    "CategoriesPresent": [1, 15]}})
    (tmp_path / "SBD" / "dataset" / "train.txt").write_text("b\nd\n")
    (tmp_path / "SBD" / "dataset" / "val.txt").write_text("c\ne\n")
    assert voc_aug.main([str(tmp_path / "VOCdevkit"), str(tmp_path / "SBD")]) == 0
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    out = np.array(Image.open(voc / "SegmentationClassAug" / "d.png"))
    assert out.tolist() == seg.tolist()
    assert (sets / "trainaug.txt").read_text().split() == ["a", "b", "d", "e"]  # minus VOC val
    assert (sets / "aug.txt").read_text().split() == ["d", "e"]  # SBD minus VOC train/val


@pytest.mark.parametrize("size, expected", [
    (1000, [(0, 896), (104, 1000)]),
    (896, [(0, 896)]),
    (2000, [(0, 896), (512, 1408), (1024, 1920), (1104, 2000)]),
])
def test_isaid_window_positions(size, expected):
    assert isaid.window_starts(size, 896, 384) == expected


def test_isaid_patch_count():
    assert len(isaid.patch_windows(1000, 1300)) == 4   # 2 rows x 2 columns
    assert isaid.patch_windows(500, 700) == [(0, 896, 0, 896)]  # padded up to one patch


def test_isaid_end_to_end_small_patches(tmp_path):
    raw = tmp_path / "raw"
    rgb = np.zeros((50, 70, 3), np.uint8)
    rgb[:, 35:] = label_maps.ISAID_PALETTE[14]  # plane
    rgb[0, 0] = (1, 2, 3)  # not an iSAID colour -> background
    img = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    os.makedirs(raw / "train" / "images")
    save(str(tmp_path / "P0001.png"), img)
    with zipfile.ZipFile(raw / "train" / "images" / "part1.zip", "w") as zf:
        zf.write(tmp_path / "P0001.png", "images/P0001.png")
    save(str(raw / "train" / "Semantic_masks" / "images" / "P0001_instance_color_RGB.png"), rgb)
    out = tmp_path / "iSAID"
    assert isaid.main([str(raw), "-o", str(out), "--patch-width", "40", "--patch-height", "40",
                       "--overlap-area", "10"]) == 0
    imgs = sorted(os.listdir(out / "img_dir" / "train"))
    anns = sorted(os.listdir(out / "ann_dir" / "train"))
    # rows: (0,40),(10,50); columns: (0,40),(30,70)
    assert imgs == ["P0001_0_40_0_40.png", "P0001_0_40_30_70.png", "P0001_10_50_0_40.png",
                    "P0001_10_50_30_70.png"]
    assert anns == [n.replace(".png", "_instance_color_RGB.png") for n in imgs]
    patch = np.array(Image.open(
        out / "ann_dir" / "train" / "P0001_0_40_30_70_instance_color_RGB.png"))
    assert patch[:, :5].max() == 0 and (patch[:, 5:] == 14).all()
    np.testing.assert_array_equal(np.array(Image.open(out / "img_dir" / "train" / imgs[3])),
                                  img[10:50, 30:70])


def test_bdd100k_layout_check(tmp_path, capsys):
    for split in ("train", "val"):
        save(str(tmp_path / "images" / "10k" / split / "good.jpg"), np.zeros((4, 6, 3)))
        save(str(tmp_path / "labels" / "sem_seg" / "masks" / split / "good.png"),
             np.array([[0, 18, 255, 3, 3, 3]] * 4))
    save(str(tmp_path / "images" / "10k" / "train" / "nolabel.jpg"), np.zeros((4, 6, 3)))
    save(str(tmp_path / "labels" / "sem_seg" / "masks" / "train" / "orphan.png"), np.zeros((4, 6)))
    save(str(tmp_path / "images" / "10k" / "val" / "small.jpg"), np.zeros((4, 6, 3)))
    save(str(tmp_path / "labels" / "sem_seg" / "masks" / "val" / "small.png"), np.zeros((3, 6)))
    save(str(tmp_path / "images" / "10k" / "val" / "values.jpg"), np.zeros((4, 6, 3)))
    save(str(tmp_path / "labels" / "sem_seg" / "masks" / "val" / "values.png"),
         np.array([[19, 200, 255, 0, 0, 0]] * 4))
    report_path = tmp_path / "report.json"
    assert bdd100k.main([str(tmp_path), "--json", str(report_path)]) == 1
    report = json.loads(report_path.read_text())
    assert report["train"]["images_without_label"] == ["nolabel"]
    assert report["train"]["labels_without_image"] == ["orphan"]
    assert report["train"]["problems"] == []
    problems = " ".join(report["val"]["problems"])
    assert "small.png: label size 6x3 differs from image size 6x4" in problems
    assert "values.png: label values [19, 200]" in problems
    assert "nolabel" in capsys.readouterr().out
