"""BDD100K semantic segmentation: check a download against the layout the dataset reads.

  python tools/convert_datasets/bdd100k.py data/bdd100k [--nproc 8] [--json REPORT]

BDD100K's sem_seg masks are already Cityscapes trainIds (0..18, 255 = ignore), so nothing is
converted. For images/10k/{train,val}/*.jpg and labels/sem_seg/masks/{train,val}/*.png it lists:
images without a label, labels without an image, label size different from its image, and label
values outside 0..18 and 255. Exits with status 1 when anything is wrong.
"""
import argparse
import os.path as osp
import sys
from functools import partial

import numpy as np
from PIL import Image

if __package__:  # imported as tools.convert_datasets.<name> (as the tests do)
    from . import convert_common as common
else:  # run as a script, python tools/convert_datasets/<name>.py: its folder is sys.path[0]
    import convert_common as common

NUM_CLASSES = 19
IGNORE = 255


def check_pair(stem, img_dir, ann_dir):
    """Problems (strings) of one image/label pair."""
    img_path = osp.join(img_dir, stem + ".jpg")
    ann_path = osp.join(ann_dir, stem + ".png")
    try:
        with Image.open(img_path) as im:
            size = im.size  # header only
        label = np.array(Image.open(ann_path))
    except (OSError, SyntaxError, ValueError) as e:
        return [f"{stem}: unreadable ({e})"]
    problems = []
    if label.ndim != 2:
        problems.append(f"{ann_path}: label has shape {label.shape}; expected one channel")
        return problems
    if label.shape[::-1] != size:
        problems.append(f"{ann_path}: label size {label.shape[1]}x{label.shape[0]} differs from "
                        f"image size {size[0]}x{size[1]}")
    values = np.unique(label)
    bad = values[(values >= NUM_CLASSES) & (values != IGNORE)]
    if bad.size:
        problems.append(f"{ann_path}: label values {bad.tolist()} outside 0..{NUM_CLASSES - 1} "
                        f"and {IGNORE}")
    return problems


def check_split(root, split, nproc):
    img_dir = osp.join(root, "images", "10k", split)
    ann_dir = osp.join(root, "labels", "sem_seg", "masks", split)
    images = {p[:-4] for p in common.scandir(img_dir, ".jpg")}
    labels = {p[:-4] for p in common.scandir(ann_dir, ".png")}
    report = dict(images=len(images), labels=len(labels),
                  images_without_label=sorted(images - labels),
                  labels_without_image=sorted(labels - images), problems=[])
    pairs = sorted(images & labels)
    for found in common.track_parallel_progress(partial(check_pair, img_dir=img_dir,
                                                        ann_dir=ann_dir), pairs, nproc,
                                                desc=split, chunksize=16):
        report["problems"] += found
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bdd_path", help="folder with images/10k and labels/sem_seg/masks")
    parser.add_argument("--json", help="also write the report here")
    common.add_nproc_arg(parser)
    args = parser.parse_args(argv)
    common.require_dir(osp.join(args.bdd_path, "images", "10k"), "image folder")
    common.require_dir(osp.join(args.bdd_path, "labels", "sem_seg", "masks"), "label folder")
    report = {split: check_split(args.bdd_path, split, args.nproc) for split in ("train", "val")}
    bad = 0
    for split, r in report.items():
        n_bad = len(r["images_without_label"]) + len(r["labels_without_image"]) + len(r["problems"])
        bad += n_bad
        print(f"{split}: {r['images']} images, {r['labels']} labels, {n_bad} problem(s)")
        for stem in r["images_without_label"][:20]:
            print(f"  image without label: {stem}.jpg")
        for stem in r["labels_without_image"][:20]:
            print(f"  label without image: {stem}.png")
        for line in r["problems"][:20]:
            print(f"  {line}")
    if args.json:
        common.fileio.write_json(args.json, report, "the report")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
