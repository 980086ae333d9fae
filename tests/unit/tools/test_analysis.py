"""Analysis tools: the confusion matrix against the IoU accumulators, the TensorBoard logger
hook read back with TensorBoard's own reader, analyze_logs.py / confusion_matrix.py PNGs, and
the clear error when the optional [vis] extra is missing."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import analyze_logs
import confusion_matrix
from jseg_ret.config import Config, ConfigError
from jseg_ret.engine import Runner, logger_hooks
from jseg_ret.engine.logger import TrainLogger
from jseg_ret.engine.logger_hooks import build_logger_hooks
from jseg_ret.evaluation import IoUAccumulator
from jseg_ret.evaluation.confusion import ConfusionAccumulator
from tests.helpers.paths import TOOLS, subprocess_env
from tests.helpers.tiny import synthetic_data, write_tiny_config


def event_scalars(log_dir):
    """{tag: [(step, value)]} read by TensorBoard's own event reader."""
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    acc = accumulator.EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.parametrize("reduce_zero_label", [False, True])
def test_confusion_diagonal_and_rows_equal_iou_areas(reduce_zero_label):
    rng = np.random.RandomState(0)
    c = 7
    conf = ConfusionAccumulator(c, ignore_index=255, reduce_zero_label=reduce_zero_label)
    ious = IoUAccumulator(c, ignore_index=255, reduce_zero_label=reduce_zero_label)
    for shape in [(13, 17), (40, 9), (1, 1), (32, 32)]:
        pred = rng.randint(0, c, size=shape)
        # with reduce_zero_label, label 0 becomes ignore and 1..c become 0..c-1
        gt = rng.randint(0, c + 1 if reduce_zero_label else c, size=shape)
        gt[rng.rand(*shape) < 0.2] = 255
        conf.update(pred, gt)
        ious.update(pred, gt)
    m = conf.matrix
    assert m.dtype == np.int64 and m.shape == (c, c)
    np.testing.assert_array_equal(np.diag(m), ious.area_intersect)
    np.testing.assert_array_equal(m.sum(axis=1), ious.area_label)
    np.testing.assert_array_equal(m.sum(axis=0), ious.area_pred_label)
    assert m.sum() == ious.area_label.sum() > 0
    np.testing.assert_allclose(conf.normalized().sum(axis=1), 1.0)


def test_missing_vis_extra_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(logger_hooks, "SummaryWriter", None)
    with pytest.raises(ConfigError, match=r"TensorboardLoggerHook needs tensorboardX.*\[vis\]"):
        build_logger_hooks({"hooks": [dict(type="TensorboardLoggerHook")]}, str(tmp_path))
    with pytest.raises(ConfigError, match="not a known logger hook"):
        build_logger_hooks({"hooks": [dict(type="WandbLoggerHook")]}, str(tmp_path))
    # the tools, with matplotlib not importable
    block = ("import sys, runpy; sys.modules['matplotlib'] = None; sys.argv = sys.argv[1:]; "
             "runpy.run_path(sys.argv[0], run_name='__main__')")
    for tool, arg in [("analyze_logs.py", "x.jsonl"), ("confusion_matrix.py", "x.json")]:
        r = subprocess.run([sys.executable, "-c", block, os.path.join(TOOLS, tool), arg],
                           capture_output=True, text=True, timeout=120, env=subprocess_env())
        assert r.returncode == 2, r.stderr
        assert "needs matplotlib" in r.stderr and "[vis]" in r.stderr, r.stderr


def test_tensorboard_hook_writes_readable_scalars(tmp_path):
    hooks = build_logger_hooks({"hooks": [dict(type="TextLoggerHook", by_epoch=False),
                                          dict(type="TensorboardLoggerHook")]}, str(tmp_path))
    tlog = TrainLogger(str(tmp_path), 0, 4, interval=2, show_bar=False, hooks=hooks)
    for it in range(1, 5):
        tlog.log(it, 0.01 * it, {"decode.loss_ce": 1.0 / it, "loss": 2.0 / it}, 0.5, 0.1)
    tlog.log_val(4, {"mIoU": 61.5, "mAcc": 70.25, "aAcc": 88.0, "IoU": [1.0, 2.0]})
    tlog.close()
    scalars = event_scalars(tmp_path / "tf_logs")
    # one record per 2 iterations: the window means
    assert scalars["train/loss"] == [(2, pytest.approx((2 / 1 + 2 / 2) / 2)),
                                     (4, pytest.approx((2 / 3 + 2 / 4) / 2))]
    assert scalars["train/lr"] == [(2, pytest.approx(0.02)), (4, pytest.approx(0.04))]
    assert [s for s, _ in scalars["train/decode.loss_ce"]] == [2, 4]
    assert scalars["val/mIoU"] == [(4, pytest.approx(61.5))]
    assert scalars["val/mAcc"] == [(4, pytest.approx(70.25))]
    assert not any("IoU/" in t for t in scalars)  # per-class lists are not scalars
    records = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert records[-1] == {"mode": "val", "iter": 4, "mIoU": 61.5, "mAcc": 70.25, "aAcc": 88.0}


def test_training_with_tensorboard_and_confusion_from_config(tmp_path):
    data = synthetic_data(tmp_path / "synthetic", num_train=4, num_val=2)
    cfg_path = write_tiny_config(tmp_path / "tiny.py", data, """
runner = dict(max_iters=2)
evaluation = dict(interval=2, confusion_matrix=True)
log_config = dict(interval=1, hooks=[dict(type="TensorboardLoggerHook")])
""")
    work = tmp_path / "work"
    Runner(Config.fromfile(str(cfg_path)), str(work), show_progress=False).train()
    scalars = event_scalars(work / "tf_logs")
    assert [s for s, _ in scalars["train/loss"]] == [1, 2]
    assert [s for s, _ in scalars["train/lr"]] == [1, 2]
    records = [json.loads(x) for x in (work / "log.jsonl").read_text().splitlines()]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx(
        [r["loss"] for r in records if "mode" not in r])
    val = [r for r in records if r.get("mode") == "val"]
    assert len(val) == 1 and scalars["val/mIoU"] == [(2, pytest.approx(val[0]["mIoU"]))]
    results = json.load(open(work / "eval_results.json"))
    m = np.asarray(results["confusion_matrix"], dtype=np.float64)
    assert m.shape == (6, 6)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.diag(m) / (m.sum(0) + m.sum(1) - np.diag(m)) * 100
    np.testing.assert_allclose(iou, np.array(results["IoU"], dtype=np.float64), equal_nan=True)


def write_log(path, times, val):
    with open(path, "w") as f:
        for it, t in times:
            f.write(json.dumps({"iter": it, "lr": 1e-3 / it, "loss": 1.0 / it, "time": t,
                                "data_time": 0.01}) + "\n")
        for it, miou in val:
            f.write(json.dumps({"mode": "val", "iter": it, "mIoU": miou, "mAcc": 1.0}) + "\n")


def test_analyze_logs_plots_and_summarizes(tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_log(a, [(10, 1.0), (20, 2.0), (40, 0.5)], [(20, 40.0), (40, 55.5)])
    write_log(b, [(10, 3.0)], [(10, 12.0), (20, 30.0), (30, 21.0)])
    out = tmp_path / "plots" / "curves.png"
    assert analyze_logs.main([str(a), str(b), "--keys", "loss", "lr", "mIoU", "--legend", "A",
                              "B", "--out", str(out), "--dpi", "40"]) == 0
    text = capsys.readouterr().out
    # a: (10*1.0 + 10*2.0 + 20*0.5) / 40 = 1.0 s per iteration
    assert "A: best mIoU 55.50 at iter 40; average iteration time 1.000 s" in text
    assert "B: best mIoU 30.00 at iter 20; average iteration time 3.000 s" in text
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size == (8 * 40, 3 * 3 * 40)
        im.load()
        assert np.asarray(im).std() > 0  # something was drawn
    assert analyze_logs.main([str(a), "--keys", "nope", "--out", str(out)]) == 2
    assert "['nope'] are in none of the logs" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"iter": 1}\nnot json\n')
    assert analyze_logs.main([str(bad), "--out", str(out)]) == 2
    assert f"{bad}:2: not a JSON record" in capsys.readouterr().err


def test_confusion_matrix_tool_draws_heatmap(tmp_path, capsys):
    results = tmp_path / "eval_results.json"
    counts = [[90, 10, 0], [5, 0, 15], [0, 0, 0]]
    results.write_text(json.dumps({"mIoU": 1.0, "confusion_matrix": counts,
                                   "class_names": ["road", "car", "sky"]}))
    out = tmp_path / "cm.png"
    assert confusion_matrix.main([str(results), "--out", str(out), "--figsize", "5", "4",
                                  "--dpi", "40"]) == 0
    assert "3 classes, 120 pixels" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (200, 160)
    np.testing.assert_allclose(confusion_matrix.row_percent(counts)[:2],
                               [[90, 10, 0], [25, 0, 75]])
    assert np.isnan(confusion_matrix.row_percent(counts)[2]).all()  # absent class: grey
    (tmp_path / "plain.json").write_text(json.dumps({"mIoU": 1.0}))
    assert confusion_matrix.main([str(tmp_path / "plain.json"), "--out", str(out)]) == 2
    assert "no confusion_matrix: evaluate with --confusion-matrix" in capsys.readouterr().err
