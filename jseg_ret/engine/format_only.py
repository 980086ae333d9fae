"""Format-only testing: predict a split and write each benchmark's submission files, no scoring.

Each rank writes its own share of the images (every world_size-th), so nothing is written twice;
rank 0 then makes the upload archive (Cityscapes) from exactly the files of this run. A save dir
that already holds files is refused unless ``overwrite`` (nothing of the user's is lost).
"""
import copy
import logging
import os
import os.path as osp

from tqdm import tqdm

from ..datasets import build_dataset
from ..evaluation.submission import submission_format, write_archive
from ..models import build_segmentor
from .checkpoint import load_checkpoint
from .dist import barrier, get_rank, get_world_size, is_main_process
from .evaluator import _sample_index, predict_item

logger = logging.getLogger(__name__)


def label_dir_problem(split_cfg):
    """Why ``split_cfg`` cannot be scored (no ann_dir, a missing one, no label file in it), or
    None when it has labels to score against."""
    ann_dir = split_cfg.get("ann_dir")
    if not ann_dir:
        return "it has no ann_dir"
    root = split_cfg.get("data_root")
    path = ann_dir if osp.isabs(ann_dir) or not root else osp.join(root, ann_dir)
    if not osp.isdir(path):
        return f"its ann_dir {path} does not exist"
    dataset = build_dataset(split_cfg)
    if not any(osp.isfile(osp.join(dataset.ann_dir, info["ann"]["seg_map"]))
               for info in dataset.img_infos):
        return f"its ann_dir {path} holds none of its {len(dataset)} label files"
    return None


def check_save_dir(save_dir, overwrite):
    """Refuse a save dir that is a file, or a folder with entries, unless ``overwrite``."""
    if not save_dir:
        raise ValueError("format-only output needs --save-dir DIR")
    if osp.exists(save_dir) and not osp.isdir(save_dir):
        raise FileExistsError(f"--save-dir {save_dir} is a file, not a folder")
    if osp.isdir(save_dir) and os.listdir(save_dir) and not overwrite:
        raise FileExistsError(f"--save-dir {save_dir} is not empty ({len(os.listdir(save_dir))} "
                              "entries); choose an empty or new folder, or pass --overwrite "
                              "to replace files of the same names")


def unlabelled_split_config(split_cfg):
    """The split's dataset config in test mode without ann_dir: labels are neither needed nor
    read (a split with labels can be formatted too, to check the output against them)."""
    cfg = copy.deepcopy(split_cfg)
    cfg["test_mode"] = True
    cfg["ann_dir"] = None
    return cfg


def write_submission(model, dataset, save_dir, overwrite=False, show_progress=True):
    """Predict every image of ``dataset`` and write it in the dataset's submission format.

    Returns ``{"format", "save_dir", "files" (relative paths of this run), "archive"}``.
    """
    check_save_dir(save_dir, overwrite)
    barrier()  # every rank has checked before any rank writes
    fmt = submission_format(dataset)
    relpaths = [fmt.relpath(info["filename"]) for info in dataset.img_infos]
    clashes = len(relpaths) - len(set(relpaths))
    if clashes:
        raise ValueError(f"{clashes} images map to the same {fmt.name} output name; the "
                         "submission format needs unique image names")
    os.makedirs(save_dir, exist_ok=True)
    model.eval()
    rank, world = get_rank(), get_world_size()
    bar = tqdm(range(rank, len(dataset), world), desc=f"format ({fmt.name})",
               disable=not (show_progress and is_main_process()), dynamic_ncols=True)
    for idx in bar:
        item = dataset[idx]
        if _sample_index(item, idx) != idx:
            # on_bad_sample='skip' gave another image: its own index writes it
            logger.warning("skipped unreadable image %s", dataset.img_infos[idx]["filename"])
            continue
        fmt.save(predict_item(model, item), osp.join(save_dir, relpaths[idx]))
    barrier()  # all shares written
    written = [r for r in relpaths if osp.isfile(osp.join(save_dir, r))]
    archive = None
    if fmt.archive and is_main_process():
        archive = write_archive(save_dir, written, fmt.archive)
    barrier()
    model.train()
    return {"format": fmt.name, "save_dir": save_dir, "files": written, "archive": archive}


def format_only(cfg, checkpoint, split, save_dir, overwrite=False, show_progress=True,
                model=None):
    """Build the model of ``cfg`` (or take ``model``), load ``checkpoint`` and write the
    ``split`` ("val"/"test") of ``cfg.data`` for submission. Writes nothing outside save_dir."""
    check_save_dir(save_dir, overwrite)  # before the slow part
    dataset = build_dataset(unlabelled_split_config(cfg.data[split]))
    model = model if model is not None else build_segmentor(cfg.model)
    if checkpoint:
        load_checkpoint(checkpoint, model)
    return write_submission(model, dataset, save_dir, overwrite, show_progress)


__all__ = ["label_dir_problem", "check_save_dir", "write_submission", "format_only",
           "unlabelled_split_config"]
