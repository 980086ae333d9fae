"""Streaming evaluation: predict image by image, fold into an IoUAccumulator, merge over ranks.

No list of predictions is kept, so memory does not grow with the dataset.

Bad samples: with the dataset's ``on_bad_sample='skip'`` a sample whose image, label or pairing is
bad is left out and counted (``num_skipped`` in the summary, one warning naming the file); it is
never replaced by another image (which would score that one twice). With ``'raise'`` the
BadSampleError naming the file ends the evaluation.
"""
import logging
import os

import numpy as np
from PIL import Image
from tqdm import tqdm

import jittor as jt

from ..datasets.errors import BadSampleError
from ..evaluation import IoUAccumulator, format_table, save_summary_json
from ..evaluation.confusion import ConfusionAccumulator
from ..models import fuse_for_inference, is_fused
from ..utils.fileio import atomic_path
from .dist import abort_job_on_error, all_reduce_sum, get_rank, get_world_size, is_main_process

_log = logging.getLogger(__name__)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _to_batch(img):
    arr = img.numpy() if isinstance(img, jt.Var) else np.asarray(img)
    if arr.ndim == 3:
        arr = arr[None]
    return jt.array(arr.astype(np.float32))


def predict_item(model, item):
    """Class map (H, W) at the original image size for one test-pipeline item.

    A MultiScaleFlipAug item holds lists (one entry per scale/flip): their softmax
    probabilities are averaged (``aug_test``); a plain item is one whole/slide inference.
    """
    imgs = _as_list(item["img"])
    metas = _as_list(item["img_metas"])
    metas = [m.data if hasattr(m, "data") else m for m in metas]
    with jt.no_grad():
        if len(imgs) == 1:
            return model.simple_test(_to_batch(imgs[0]), metas[0])[0]
        return model.aug_test([_to_batch(i) for i in imgs], metas)[0]


def save_prediction_png(pred, path, palette=None):
    """Class ids as a palettized PNG, written atomically: exact ids for tools, dataset colours
    for people. A failed write raises ``OutputWriteError`` and leaves an existing file as it
    was."""
    pred = np.asarray(pred)
    if pred.max(initial=0) > 255:
        raise ValueError(f"{path}: class id {pred.max()} does not fit an 8-bit PNG")
    im = Image.fromarray(pred.astype(np.uint8), mode="P")
    if palette is not None:
        flat = np.zeros((256, 3), np.uint8)
        flat[:len(palette)] = np.asarray(palette, np.uint8)[:256]
        im.putpalette(flat.reshape(-1).tolist())
    with atomic_path(path, "the prediction", suffix=".png", makedirs=True) as tmp:
        im.save(tmp)


@abort_job_on_error()  # under MPI: a failing rank must not leave the others in all_reduce_sum
def evaluate_dataset(model, dataset, save_dir=None, show_progress=True, logger=None,
                     work_dir=None, metrics=("mIoU",), confusion_matrix=False):
    """mIoU/mAcc/aAcc over ``dataset`` (each rank takes every world_size-th image).

    Writes ``<work_dir>/eval_results.json`` (rank 0) and, with ``save_dir``, one prediction PNG
    per image. Returns the summary dict (``num_images`` scored, ``num_skipped`` bad samples);
    with ``confusion_matrix`` it also holds ``confusion_matrix`` (label × prediction pixel
    counts, summed over ranks).
    """
    model.eval()
    fused = fuse_for_inference(model)  # a folded copy; ``model`` itself is left as it is
    rank, world = get_rank(), get_world_size()
    num_classes = len(dataset.CLASSES)
    acc = IoUAccumulator(num_classes, ignore_index=getattr(dataset, "ignore_index", 255))
    skip_bad = getattr(dataset, "on_bad_sample", "raise") == "skip"
    skipped = 0
    confusion = ConfusionAccumulator(num_classes, acc.ignore_index) if confusion_matrix else None
    indices = range(rank, len(dataset), world)
    bar = tqdm(indices, desc="eval", disable=not (show_progress and is_main_process()),
               dynamic_ncols=True)
    for idx in bar:
        try:
            item = dataset[idx]
            if _sample_index(item, idx) != idx:
                # the dataset skipped idx and returned a later sample, which is scored at its
                # own index: this one is left out (the dataset logged the file)
                skipped += 1
                continue
            gt = dataset.get_gt_seg_map(idx)
            _check_label_size(dataset, idx, item, gt)
        except BadSampleError as e:
            if not skip_bad:
                raise
            skipped += 1
            _log.warning("evaluation: skipping bad sample %d: %s", idx, e)
            continue
        pred = predict_item(fused, item)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and label {gt.shape} differ for "
                             f"{_files_of(dataset, idx)}; the test pipeline must keep the "
                             "original size in img_metas")
        acc.update(pred, gt)
        if confusion is not None:
            confusion.update(pred, gt)
        if save_dir:
            name = _image_name(dataset, idx)
            save_prediction_png(pred, os.path.join(save_dir, name + ".png"),
                                getattr(dataset, "PALETTE", None))
    num_images = acc.num_images
    if world > 1:
        acc = IoUAccumulator.from_state(
            {k: all_reduce_sum(v) for k, v in acc.state().items()}, num_classes,
            ignore_index=acc.ignore_index)
        counts = all_reduce_sum(np.array([num_images, skipped], dtype=np.float64))
        num_images, skipped = int(round(counts[0])), int(round(counts[1]))
        acc.num_images = num_images
    summary = acc.summary(metrics=metrics, class_names=list(dataset.CLASSES))
    summary["num_skipped"] = skipped
    if skipped and is_main_process():
        (logger.warning if logger else _log.warning)(
            "evaluation: %d bad sample(s) skipped (on_bad_sample='skip'); %d image(s) scored",
            skipped, num_images)
    if confusion is not None:
        summary["confusion_matrix"] = confusion.merge_state(all_reduce_sum(confusion.matrix)).matrix
    if is_main_process():
        table = format_table(summary, list(dataset.CLASSES))
        (logger.info if logger else print)("\n" + table)
        if work_dir:
            save_summary_json(summary, os.path.join(work_dir, "eval_results.json"))
    if not is_fused(model):  # a model from init_segmentor is fused: inference only
        model.train()
    return summary


def _check_label_size(dataset, idx, item, gt):
    """BadSampleError naming the files when the label's size differs from its image's."""
    meta = _first_meta(item)
    ori_shape = meta.get("ori_shape") if isinstance(meta, dict) else None
    if ori_shape is not None and tuple(ori_shape[:2]) != tuple(gt.shape):
        img_path, label_path = _paths(dataset, idx)
        raise BadSampleError(label_path or img_path,
                             f"label size (h, w)={tuple(gt.shape)} differs from image size "
                             f"{tuple(ori_shape[:2])} of {img_path}")


def _paths(dataset, idx):
    """(image path, label path) of sample ``idx`` where the dataset can say, else (None, None)."""
    file_paths = getattr(dataset, "file_paths", None)
    return file_paths(idx) if file_paths else (None, None)


def _files_of(dataset, idx):
    img_path, label_path = _paths(dataset, idx)
    if img_path is None:
        return f"image {idx}"
    return f"image {img_path}" + (f" and label {label_path}" if label_path else "")


def _first_meta(item):
    """The img_metas dict of an item (of its first augmentation for a test-time-aug item)."""
    metas = item["img_metas"]
    meta = metas[0] if isinstance(metas, (list, tuple)) else metas
    return meta.data if hasattr(meta, "data") else meta


def _sample_index(item, default):
    meta = _first_meta(item)
    return int(meta.get("sample_idx", default)) if isinstance(meta, dict) else default


def _image_name(dataset, idx):
    infos = getattr(dataset, "img_infos", None)
    if infos:
        name = infos[idx].get("filename", str(idx))
        return os.path.splitext(name)[0]
    return f"{idx:06d}"


__all__ = ["evaluate_dataset", "predict_item", "save_prediction_png"]
