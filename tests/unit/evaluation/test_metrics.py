"""IoUAccumulator against a brute-force per-pixel computation (mmseg's definitions)."""
import json
import math

import numpy as np
import pytest

from jseg_ret.evaluation import (
    IoUAccumulator,
    cityscapes_export,
    cityscapes_result_path,
    format_table,
    intersect_and_union,
    save_summary_json,
    trainid_to_labelid,
)

IGNORE = 255


def brute_force_areas(preds, gts, num_classes, ignore_index=IGNORE):
    """Per-pixel loops in plain Python over every image: the definition, not the fast path."""
    inter = [0] * num_classes
    pred_a = [0] * num_classes
    label_a = [0] * num_classes
    for pred, gt in zip(preds, gts):
        for p, g in zip(pred.ravel().tolist(), gt.ravel().tolist()):
            if g == ignore_index:
                continue
            if 0 <= g < num_classes:
                label_a[g] += 1
            if 0 <= p < num_classes:
                pred_a[p] += 1
            if p == g and 0 <= g < num_classes:
                inter[g] += 1
    union = [p + lab - i for i, p, lab in zip(inter, pred_a, label_a)]
    return inter, union, pred_a, label_a


def ratio(a, b):
    return a / b if b else float("nan")


def nanmean(values):
    vals = [v for v in values if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def random_pairs(rng, n, num_classes, shape=(13, 17)):
    preds, gts = [], []
    for _ in range(n):
        gt = rng.integers(0, num_classes, size=shape)
        gt[rng.random(shape) < 0.15] = IGNORE
        gt[gt == num_classes - 1] = 0  # the last class never appears in any label
        pred = np.where(rng.random(shape) < 0.6, gt, rng.integers(0, num_classes, size=shape))
        pred[pred == IGNORE] = 0
        preds.append(pred)
        gts.append(gt)
    return preds, gts


def assert_close_nan(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-12, abs=1e-12)


def test_hand_checked_example():
    # gt: class 0 x2, class 1 x2, one ignore; pred gets one of each right
    gt = np.array([[0, 0, 1], [1, 255, 2]])
    pred = np.array([[0, 1, 1], [0, 2, 2]])
    inter, union, pa, la = intersect_and_union(pred, gt, 3)
    assert inter.tolist() == [1, 1, 1]
    assert pa.tolist() == [2, 2, 1]  # the pred under the ignore pixel is not counted
    assert la.tolist() == [2, 2, 1]
    assert union.tolist() == [3, 3, 1]
    s = IoUAccumulator(3).update(pred, gt).summary()
    assert s["IoU"] == pytest.approx([100 / 3, 100 / 3, 100.0])
    assert s["Acc"] == pytest.approx([50.0, 50.0, 100.0])
    assert s["mIoU"] == pytest.approx((100 / 3 * 2 + 100) / 3)
    assert s["aAcc"] == pytest.approx(300 / 5)


def test_random_against_brute_force_with_absent_class_and_ignore():
    rng = np.random.default_rng(0)
    num_classes = 6
    preds, gts = random_pairs(rng, 5, num_classes)
    acc = IoUAccumulator(num_classes)
    for p, g in zip(preds, gts):
        acc.update(p, g)
    inter, union, pa, la = brute_force_areas(preds, gts, num_classes)
    assert acc.area_intersect.tolist() == inter
    assert acc.area_union.tolist() == union
    assert acc.area_pred_label.tolist() == pa
    assert acc.area_label.tolist() == la

    s = acc.summary(metrics=("mIoU", "mDice", "mFscore"))
    iou = [ratio(i, u) * 100 for i, u in zip(inter, union)]
    cls_acc = [ratio(i, lab) * 100 for i, lab in zip(inter, la)]
    dice = [ratio(2 * i, p + lab) * 100 for i, p, lab in zip(inter, pa, la)]
    prec = [ratio(i, p) * 100 for i, p in zip(inter, pa)]
    fscore = [2 * p * r / (p + r) if not (math.isnan(p) or math.isnan(r)) else float("nan")
              for p, r in zip(prec, cls_acc)]
    # the last class is never in a label: Acc NaN; it is predicted, so IoU = 0 (defined)
    assert math.isnan(s["Acc"][-1]) and s["IoU"][-1] == 0.0
    assert_close_nan(s["IoU"], iou)
    assert_close_nan(s["Acc"], cls_acc)
    assert_close_nan(s["Dice"], dice)
    assert_close_nan(s["Precision"], prec)
    assert_close_nan(s["Recall"], cls_acc)
    assert_close_nan(s["Fscore"], fscore)
    assert s["mIoU"] == pytest.approx(nanmean(iou))
    assert s["mAcc"] == pytest.approx(nanmean(cls_acc))  # NaN excluded from the mean
    assert s["mDice"] == pytest.approx(nanmean(dice))
    assert s["mFscore"] == pytest.approx(nanmean(fscore))
    assert s["aAcc"] == pytest.approx(sum(inter) / sum(la) * 100)


def test_class_absent_from_pred_and_label_is_nan_and_excluded():
    gt = np.array([[0, 1], [1, 0]])
    pred = np.array([[0, 1], [0, 0]])
    s = IoUAccumulator(3).update(pred, gt).summary()
    assert math.isnan(s["IoU"][2]) and math.isnan(s["Acc"][2])
    assert s["mIoU"] == pytest.approx((100 * 2 / 3 + 50) / 2)
    s0 = IoUAccumulator(3).update(pred, gt).summary(nan_to_num=0)  # mmseg: NaN -> 0 before mean
    assert s0["IoU"][2] == 0 and s0["mIoU"] == pytest.approx((100 * 2 / 3 + 50) / 3)


def test_accumulation_equals_one_pass_over_concatenation_and_merge():
    rng = np.random.default_rng(1)
    preds, gts = random_pairs(rng, 12, 5, shape=(9, 11))
    streamed = IoUAccumulator(5)
    for p, g in zip(preds, gts):
        streamed.update(p, g)
    one_pass = IoUAccumulator(5).update(np.concatenate(preds), np.concatenate(gts))
    for key in streamed.state():
        np.testing.assert_array_equal(streamed.state()[key], one_pass.state()[key])
    left, right = IoUAccumulator(5), IoUAccumulator(5)
    for k, (p, g) in enumerate(zip(preds, gts)):
        (left if k % 3 else right).update(p, g)
    merged = left.merge(right)
    for key in merged.state():
        np.testing.assert_array_equal(merged.state()[key], streamed.state()[key])
    assert merged.num_images == streamed.num_images == 12
    # state -> sum per key (what an MPI all-reduce does) -> from_state
    s0 = IoUAccumulator(5).update(preds[0], gts[0]).state()
    s1 = IoUAccumulator(5).update(preds[1], gts[1]).state()
    assert list(s0) == ["area_intersect", "area_union", "area_pred_label", "area_label"]
    assert all(v.dtype == np.float64 and v.shape == (5,) for v in s0.values())
    summed = {k: s0[k] + s1[k] for k in s0}
    rebuilt = IoUAccumulator.from_state(summed, 5)
    direct = IoUAccumulator(5).update(preds[0], gts[0]).update(preds[1], gts[1])
    for key in summed:
        np.testing.assert_array_equal(rebuilt.state()[key], direct.state()[key])
    stacked = np.stack(list(summed.values()))
    np.testing.assert_array_equal(IoUAccumulator.from_state(stacked).area_label, direct.area_label)
    with pytest.raises(ValueError, match="expected 6"):
        IoUAccumulator.from_state(summed, 6)


def test_reduce_zero_label_and_out_of_range_values():
    gt = np.array([[0, 1, 2], [3, 255, 1]], dtype=np.uint8)  # raw ADE-style: 0 = other
    pred = np.array([[5, 0, 1], [2, 0, 7]])  # 7 is out of range for 3 classes
    s = IoUAccumulator(3, reduce_zero_label=True).update(pred, gt)
    # reduced gt: [[255, 0, 1], [2, 255, 0]]
    assert s.area_label.tolist() == [2, 1, 1]
    assert s.area_intersect.tolist() == [1, 1, 1]
    assert s.area_pred_label.tolist() == [1, 1, 1]  # the 7 counts for no class


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(2, 3\)"):
        IoUAccumulator(2).update(np.zeros((2, 2), int), np.zeros((2, 3), int))


def test_format_table_and_json(tmp_path):
    acc = IoUAccumulator(3).update(np.array([[0, 1]]), np.array([[0, 0]]))
    s = acc.summary(class_names=["a", "b", "c"])
    table = format_table(s)
    assert "| Class |" in table and "| a " in table and "nan" in table and "mIoU" in table
    path = save_summary_json(s, str(tmp_path / "out" / "summary.json"))
    loaded = json.load(open(path))
    assert loaded["IoU"][2] is None and loaded["class_names"] == ["a", "b", "c"]
    assert loaded["mIoU"] == pytest.approx(s["mIoU"])
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["summary.json"]  # no temp left


def test_cityscapes_export(tmp_path):
    from PIL import Image
    pred = np.array([[0, 1, 18], [10, 255, 13]])
    ids = trainid_to_labelid(pred)
    assert ids.tolist() == [[7, 8, 33], [23, 0, 26]]
    path = cityscapes_result_path(str(tmp_path),
                                  "frankfurt/frankfurt_000000_000294_leftImg8bit.png")
    assert path.endswith("frankfurt_000000_000294_leftImg8bit.png")
    cityscapes_export(pred, path)
    img = Image.open(path)
    assert img.mode == "P"
    assert np.array(img).tolist() == ids.tolist()
    assert img.getpalette()[7 * 3:7 * 3 + 3] == [128, 64, 128]  # road
