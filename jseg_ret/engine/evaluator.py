"""Streaming evaluation: predict image by image, fold into an IoUAccumulator, merge over ranks.

No list of predictions is kept, so memory does not grow with the dataset.
"""
import os

import jittor as jt
import numpy as np
from PIL import Image
from tqdm import tqdm

from ..evaluation import IoUAccumulator, format_table, save_summary_json
from ..models import fuse_for_inference, is_fused
from .dist import all_reduce_sum, get_rank, get_world_size, is_main_process


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
    """Class ids as a palettized PNG: exact ids for tools, dataset colours for people."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pred = np.asarray(pred)
    if pred.max(initial=0) > 255:
        raise ValueError(f"{path}: class id {pred.max()} does not fit an 8-bit PNG")
    im = Image.fromarray(pred.astype(np.uint8), mode="P")
    if palette is not None:
        flat = np.zeros((256, 3), np.uint8)
        flat[:len(palette)] = np.asarray(palette, np.uint8)[:256]
        im.putpalette(flat.reshape(-1).tolist())
    tmp = path + ".tmp.png"
    im.save(tmp)
    os.replace(tmp, path)


def evaluate_dataset(model, dataset, save_dir=None, show_progress=True, logger=None,
                     work_dir=None, metrics=("mIoU",)):
    """mIoU/mAcc/aAcc over ``dataset`` (each rank takes every world_size-th image).

    Writes ``<work_dir>/eval_results.json`` (rank 0) and, with ``save_dir``, one prediction PNG
    per image. Returns the summary dict.
    """
    model.eval()
    fused = fuse_for_inference(model)  # a folded copy; ``model`` itself is left as it is
    rank, world = get_rank(), get_world_size()
    num_classes = len(dataset.CLASSES)
    acc = IoUAccumulator(num_classes, ignore_index=getattr(dataset, "ignore_index", 255))
    indices = range(rank, len(dataset), world)
    bar = tqdm(indices, desc="eval", disable=not (show_progress and is_main_process()),
               dynamic_ncols=True)
    for idx in bar:
        item = dataset[idx]
        pred = predict_item(fused, item)
        # with on_bad_sample='skip' the item may be a later sample: score it against its own label
        idx = _sample_index(item, idx)
        gt = dataset.get_gt_seg_map(idx)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and label {gt.shape} differ for image "
                             f"{idx}; the test pipeline must keep the original size in img_metas")
        acc.update(pred, gt)
        if save_dir:
            name = _image_name(dataset, idx)
            save_prediction_png(pred, os.path.join(save_dir, name + ".png"),
                                getattr(dataset, "PALETTE", None))
    if world > 1:
        acc = IoUAccumulator.from_state(
            {k: all_reduce_sum(v) for k, v in acc.state().items()}, num_classes,
            ignore_index=acc.ignore_index)
    summary = acc.summary(metrics=metrics, class_names=list(dataset.CLASSES))
    if is_main_process():
        table = format_table(summary, list(dataset.CLASSES))
        (logger.info if logger else print)("\n" + table)
        if work_dir:
            save_summary_json(summary, os.path.join(work_dir, "eval_results.json"))
    if not is_fused(model):  # a model from init_segmentor is fused: inference only
        model.train()
    return summary


def _sample_index(item, default):
    metas = item["img_metas"]
    meta = metas[0] if isinstance(metas, (list, tuple)) else metas
    meta = meta.data if hasattr(meta, "data") else meta
    return int(meta.get("sample_idx", default)) if isinstance(meta, dict) else default


def _image_name(dataset, idx):
    infos = getattr(dataset, "img_infos", None)
    if infos:
        name = infos[idx].get("filename", str(idx))
        return os.path.splitext(name)[0]
    return f"{idx:06d}"


__all__ = ["evaluate_dataset", "predict_item", "save_prediction_png"]
