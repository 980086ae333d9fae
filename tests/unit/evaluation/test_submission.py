"""Format-only test output: each benchmark's submission encoding, a Cityscapes-shaped tree
without labels run from the command line (names, labelIds, zip, nothing outside --save-dir, a
non-empty --save-dir refused), written files scored like the in-process evaluation, --aug-test,
and MPI ranks writing disjoint shares."""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

import run_net
from jseg_ret.config import Config
from jseg_ret.datasets import build_dataset
from jseg_ret.datasets.ade import ADE20KDataset
from jseg_ret.datasets.bdd100k import BDD100KDataset
from jseg_ret.datasets.cityscapes import CityscapesDataset
from jseg_ret.datasets.coco_stuff import COCOStuffDataset
from jseg_ret.datasets.isaid import iSAIDDataset
from jseg_ret.datasets.label_maps import CITYSCAPES_LABELS
from jseg_ret.datasets.pascal_context import PascalContextDataset59
from jseg_ret.datasets.voc import PascalVOCDataset
from jseg_ret.engine import evaluate_dataset, load_checkpoint, predict_item, save_checkpoint
from jseg_ret.engine.format_only import unlabelled_split_config
from jseg_ret.evaluation import IoUAccumulator
from jseg_ret.evaluation.submission import submission_format
from jseg_ret.models import build_segmentor
from tests.helpers.mpi import MPIRUN, mpirun_cmd
from tests.helpers.paths import subprocess_env
from tests.helpers.tiny import synthetic_data, write_tiny_config

CITY_CFG = """
_base_ = ["{tiny}"]
model = dict(decode_head=dict(num_classes=19))
data = dict(
    val=dict(type="CityscapesDataset", data_root="{city}", img_dir="leftImg8bit/val",
             ann_dir="gtFine/val"),
    test=dict(type="CityscapesDataset", data_root="{city}", img_dir="leftImg8bit/test",
              ann_dir="gtFine/test"))
"""
# labelId -> trainId written out from the Cityscapes label table (independent of the code)
ID_TO_TRAIN = {lid: tid for _, lid, tid, _ in CITYSCAPES_LABELS if lid >= 0 and tid != 255}


def files_under(root):
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def make_cityscapes_tree(root, rng):
    """leftImg8bit/{val,test}/<city>/*_leftImg8bit.png; gtFine labels for val only."""
    images = {}
    for split in ("val", "test"):
        for k, (city, size) in enumerate([("aachen", (72, 56)), ("aachen", (64, 64)),
                                          ("bonn", (80, 48))]):
            stem = f"{city}_{k:06d}_{19 + k:06d}"
            path = os.path.join(root, "leftImg8bit", split, city, stem + "_leftImg8bit.png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(rng.randint(0, 256, size + (3,), dtype=np.uint8)).save(path)
            images.setdefault(split, []).append((stem, size))
            if split == "val":
                label = rng.randint(0, 19, size).astype(np.uint8)
                label[rng.rand(*size) < 0.1] = 255
                lpath = os.path.join(root, "gtFine", split, city,
                                     stem + "_gtFine_labelTrainIds.png")
                os.makedirs(os.path.dirname(lpath), exist_ok=True)
                Image.fromarray(label).save(lpath)
    return images


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("submit")
    data = synthetic_data(base / "synthetic", num_train=2, num_val=3)
    tiny = write_tiny_config(base / "tiny.py", data)
    city = base / "cityscapes"
    images = make_cityscapes_tree(str(city), np.random.RandomState(0))
    city_cfg = base / "city.py"
    city_cfg.write_text(CITY_CFG.format(tiny=tiny, city=city))
    ckpts = {}
    for name, path in [("tiny", tiny), ("city", city_cfg)]:
        ckpts[name] = str(base / f"{name}.pkl")
        save_checkpoint(ckpts[name], build_segmentor(Config.fromfile(str(path)).model))
    return dict(base=base, tiny=str(tiny), city=str(city), city_cfg=str(city_cfg),
                images=images, ckpts=ckpts)


def in_process_predictions(cfg_path, ckpt, split):
    cfg = Config.fromfile(cfg_path)
    model = build_segmentor(cfg.model)
    load_checkpoint(ckpt, model)
    model.eval()
    dataset = build_dataset(unlabelled_split_config(cfg.data[split]))
    return dataset, [predict_item(model, dataset[i]) for i in range(len(dataset))]


def empty_dataset(cls, tmp_path, **kwargs):
    """A dataset object of ``cls`` to carry its submission format: a folder with no images is an
    error, so it holds one placeholder file for every suffix the datasets use."""
    imgs = tmp_path / "imgs"
    imgs.mkdir(exist_ok=True)
    for suffix in ("_leftImg8bit.png", ".jpg", ".png"):
        (imgs / ("placeholder" + suffix)).write_bytes(b"")
    return cls(pipeline=[], img_dir=str(imgs), test_mode=True, **kwargs)


def test_each_benchmark_encoding(tmp_path):
    rng = np.random.RandomState(0)
    split = tmp_path / "split.txt"
    split.write_text("placeholder\n")

    def written(dataset, pred, name):
        fmt = submission_format(dataset)
        path = tmp_path / "out" / fmt.relpath(name)
        fmt.save(pred, str(path))
        with Image.open(path) as im:
            return fmt, path, im.mode, np.array(im), im.getpalette()

    city = empty_dataset(CityscapesDataset, tmp_path)
    pred = rng.randint(0, 19, (9, 21))
    pred[0, :19] = np.arange(19)  # every class at least once
    fmt, path, mode, values, _ = written(city, pred, "zurich/zurich_000001_000019_leftImg8bit.png")
    assert path.name == "zurich_000001_000019_leftImg8bit.png" and path.parent.name == "out"
    assert mode == "P"
    np.testing.assert_array_equal(np.vectorize(ID_TO_TRAIN.get)(values), pred)
    np.testing.assert_array_equal(fmt.decode(values), pred)

    ade = empty_dataset(ADE20KDataset, tmp_path)
    pred = rng.randint(0, 150, (7, 5))
    _, path, mode, values, _ = written(ade, pred, "ADE_test_00000001.jpg")
    assert path.name == "ADE_test_00000001.png" and mode == "L"
    np.testing.assert_array_equal(values, pred + 1)

    voc = empty_dataset(PascalVOCDataset, tmp_path, split=str(split))
    pred = rng.randint(0, 21, (6, 8))
    _, path, mode, values, palette = written(voc, pred, "2008_000001.jpg")
    assert path.relative_to(tmp_path / "out").as_posix() == \
        "results/VOC2012/Segmentation/comp6_test_cls/2008_000001.png"
    assert mode == "P"
    np.testing.assert_array_equal(values, pred)
    assert palette[:21 * 3] == [v for c in PascalVOCDataset.PALETTE for v in c]

    ctx = empty_dataset(PascalContextDataset59, tmp_path, split=str(split))
    pred = rng.randint(0, 59, (6, 8))
    _, _, mode, values, palette = written(ctx, pred, "2008_000002.jpg")
    assert mode == "P"
    np.testing.assert_array_equal(values, pred + 1)  # back to the 60-class indices
    assert palette[:6] == [0, 0, 0] + list(PascalContextDataset59.PALETTE[0])

    for cls, kwargs, n, shift in [(COCOStuffDataset, {}, 171, 0),
                                  (COCOStuffDataset, dict(reduce_zero_label=True), 171, 1),
                                  (iSAIDDataset, {}, 16, 0), (BDD100KDataset, {}, 19, 0)]:
        pred = rng.randint(0, n, (5, 5))
        _, _, mode, values, _ = written(empty_dataset(cls, tmp_path, **kwargs), pred, "x.jpg")
        assert mode == "L"
        np.testing.assert_array_equal(values, pred + shift)

    with pytest.raises(ValueError, match=r"outside \[0, 19\)"):
        submission_format(city).encode(np.full((2, 2), 19))


def test_cityscapes_test_split_without_labels(setup, tmp_path, capsys):
    out, work = tmp_path / "submission", tmp_path / "work"
    before = files_under(setup["base"])
    args = ["--config-file", setup["city_cfg"], "--task", "test", "--checkpoint",
            setup["ckpts"]["city"], "--save-dir", str(out), "--work-dir", str(work),
            "--no-progress"]
    assert run_net.main(args) == 0
    stdout = capsys.readouterr().out
    assert "note: the test split cannot be scored" in stdout and "gtFine/test" in stdout
    # nothing written outside --save-dir: not even the work dir
    assert files_under(setup["base"]) == before and not work.exists()

    stems = [stem for stem, _ in setup["images"]["test"]]
    pngs = sorted(stem + "_leftImg8bit.png" for stem in stems)
    assert sorted(os.listdir(out)) == sorted(pngs + ["cityscapes_results.zip"])
    with zipfile.ZipFile(out / "cityscapes_results.zip") as zf:
        assert sorted(zf.namelist()) == pngs  # exactly one file per image
        for name in pngs:
            assert zf.read(name) == (out / name).read_bytes()

    dataset, preds = in_process_predictions(setup["city_cfg"], setup["ckpts"]["city"], "test")
    for info, pred in zip(dataset.img_infos, preds):
        with Image.open(out / os.path.basename(info["filename"])) as im:
            assert im.mode == "P"
            size = Image.open(os.path.join(dataset.img_dir, info["filename"])).size
            assert im.size == size  # the original image size
            labelids = np.array(im)
        assert set(np.unique(labelids)) <= set(ID_TO_TRAIN)
        np.testing.assert_array_equal(np.vectorize(ID_TO_TRAIN.get)(labelids), pred)

    # an existing non-empty --save-dir is refused, its files untouched; --overwrite replaces
    stamp = {n: (out / n).read_bytes() for n in pngs}
    (out / pngs[0]).write_bytes(b"user's file")
    assert run_net.main(args) == 2
    err = capsys.readouterr().err
    assert f"--save-dir {out} is not empty" in err and "--overwrite" in err
    assert (out / pngs[0]).read_bytes() == b"user's file"
    assert run_net.main(args + ["--overwrite"]) == 0
    assert {n: (out / n).read_bytes() for n in pngs} == stamp


def score_files(dataset, save_dir):
    fmt = submission_format(dataset)
    acc = IoUAccumulator(len(dataset.CLASSES), ignore_index=dataset.ignore_index)
    for i, info in enumerate(dataset.img_infos):
        with Image.open(os.path.join(save_dir, fmt.relpath(info["filename"]))) as im:
            acc.update(fmt.decode(np.array(im)), dataset.get_gt_seg_map(i))
    return acc


def test_written_files_score_like_in_process_evaluation(setup, tmp_path):
    work, out = tmp_path / "work", tmp_path / "val_submission"
    common = ["--config-file", setup["city_cfg"], "--task", "val", "--checkpoint",
              setup["ckpts"]["city"], "--work-dir", str(work), "--no-progress"]
    assert run_net.main(common + ["--confusion-matrix"]) == 0
    results = json.load(open(work / "eval_results.json"))
    assert run_net.main(common + ["--format-only", "--save-dir", str(out)]) == 0
    dataset = build_dataset(Config.fromfile(setup["city_cfg"]).data.val)
    acc = score_files(dataset, str(out))
    summary = acc.summary(class_names=list(dataset.CLASSES))
    assert summary["mIoU"] == results["mIoU"] and summary["aAcc"] == results["aAcc"]
    assert [x if x == x else None for x in summary["IoU"]] == results["IoU"]
    # the confusion matrix of the in-process run against the areas of the written files
    m = np.asarray(results["confusion_matrix"])
    np.testing.assert_array_equal(np.diag(m), acc.area_intersect)
    np.testing.assert_array_equal(m.sum(axis=1), acc.area_label)


def test_format_only_with_aug_test_on_synthetic(setup, tmp_path, monkeypatch):
    # one scale + flip: the aug_test path (2 forwards averaged) at the cached 160x160 shape
    monkeypatch.setattr(run_net, "AUG_TEST_RATIOS", [1.0])
    work, out = tmp_path / "work", tmp_path / "preds"
    common = ["--config-file", setup["tiny"], "--task", "val", "--checkpoint",
              setup["ckpts"]["tiny"], "--work-dir", str(work), "--no-progress", "--aug-test"]
    assert run_net.main(common) == 0
    results = json.load(open(work / "eval_results.json"))
    assert run_net.main(common + ["--format-only", "--save-dir", str(out)]) == 0
    dataset = build_dataset(Config.fromfile(setup["tiny"]).data.val)
    assert sorted(os.listdir(out)) == sorted(i["filename"] for i in dataset.img_infos)
    with Image.open(out / os.listdir(out)[0]) as im:
        assert im.mode == "P"
        assert im.getpalette()[:18] == [v for c in dataset.PALETTE for v in c]
    assert score_files(dataset, str(out)).summary()["mIoU"] == results["mIoU"]


@pytest.mark.mpi
@pytest.mark.skipif(MPIRUN is None, reason="OpenMPI not installed (mpirun)")
def test_mpi_ranks_write_disjoint_shares(setup, tmp_path):
    """2 ranks (one mpirun, run_net.main twice) write the files one process predicts, and merge
    the confusion matrix into the one-process matrix."""
    common = ["--config-file", setup["city_cfg"], "--checkpoint", setup["ckpts"]["city"],
              "--no-progress"]
    fmt = common + ["--task", "test", "--save-dir", str(tmp_path / "mpi"), "--work-dir",
                    str(tmp_path / "w")]
    val = common + ["--task", "val", "--confusion-matrix", "--work-dir", str(tmp_path / "m")]
    script = f"import sys, run_net; sys.exit(run_net.main({fmt!r}) or run_net.main({val!r}))"
    r = subprocess.run(mpirun_cmd() + [sys.executable, "-c", script], capture_output=True,
                       text=True, timeout=900, env=subprocess_env())
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert r.stdout.count("wrote 3 cityscapes prediction PNGs") == 1  # rank 0 reports

    dataset, preds = in_process_predictions(setup["city_cfg"], setup["ckpts"]["city"], "test")
    pngs = sorted(os.path.basename(i["filename"]) for i in dataset.img_infos)
    assert sorted(os.listdir(tmp_path / "mpi")) == sorted(pngs + ["cityscapes_results.zip"])
    with zipfile.ZipFile(tmp_path / "mpi" / "cityscapes_results.zip") as zf:
        assert sorted(zf.namelist()) == pngs
    for info, pred in zip(dataset.img_infos, preds):
        with Image.open(tmp_path / "mpi" / os.path.basename(info["filename"])) as im:
            np.testing.assert_array_equal(np.vectorize(ID_TO_TRAIN.get)(np.array(im)), pred)

    cfg = Config.fromfile(setup["city_cfg"])
    model = build_segmentor(cfg.model)
    load_checkpoint(setup["ckpts"]["city"], model)
    single = evaluate_dataset(model, build_dataset(cfg.data.val), show_progress=False,
                              confusion_matrix=True)
    merged = json.load(open(tmp_path / "m" / "eval_results.json"))
    assert merged["confusion_matrix"] == single["confusion_matrix"].tolist()
    assert merged["mIoU"] == pytest.approx(single["mIoU"], rel=1e-12)
