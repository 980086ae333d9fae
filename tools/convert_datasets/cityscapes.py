"""Cityscapes: gtFine *_polygons.json (or *_labelIds.png) -> *_labelTrainIds.png + split lists.

  python tools/convert_datasets/cityscapes.py data/cityscapes [--nproc 8] [-o OUT]
      [--gt-dir gtFine] [--source auto|polygons|labelIds]

Writes ``<stem>_gtFine_labelTrainIds.png`` next to each annotation (the 19 train ids, 255 =
ignore, with the official 34 -> 19 table of cityscapesScripts) and ``{train,val,test}.txt`` in OUT
(default: the dataset folder) listing ``<city>/<city>_<seq>_<frame>``, as mmseg's converter.
Polygons are drawn in file order with PIL ImageDraw, as cityscapesScripts' json2labelImg does.
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np
from PIL import Image, ImageDraw

if __package__:  # imported as tools.convert_datasets.<name> (as the tests do)
    from . import convert_common as common
else:  # run as a script, python tools/convert_datasets/<name>.py: its folder is sys.path[0]
    import convert_common as common

POLY_SUFFIX = "_gtFine_polygons.json"
IDS_SUFFIX = "_gtFine_labelIds.png"
OUT_SUFFIX = "_gtFine_labelTrainIds.png"
ID_TO_TRAINID = common.label_maps.cityscapes_id_to_trainid_lut()
NAME_TO_LABEL = common.label_maps.CITYSCAPES_NAME_TO_LABEL


def polygons_to_trainids(json_file):
    """Rasterise one *_polygons.json to a uint8 trainId map."""
    with open(json_file) as f:
        ann = json.load(f)
    try:
        size = (int(ann["imgWidth"]), int(ann["imgHeight"]))
        objects = ann["objects"]
    except KeyError as e:
        raise ValueError(f"{json_file}: missing key {e} (expected imgWidth, imgHeight, "
                         "objects)") from None
    img = Image.new("L", size, 255)  # 'unlabeled' has trainId 255
    draw = ImageDraw.Draw(img)
    for obj in objects:
        if obj.get("deleted"):
            continue
        name = obj["label"]
        if name not in NAME_TO_LABEL and name.endswith("group"):
            name = name[:-len("group")]  # e.g. 'cargroup' is drawn as 'car'
        if name not in NAME_TO_LABEL:
            raise ValueError(f"{json_file}: unknown label {obj['label']!r}")
        label_id, train_id = NAME_TO_LABEL[name]
        if label_id < 0:  # 'license plate' is not drawn
            continue
        polygon = [tuple(p) for p in obj["polygon"]]
        if len(polygon) >= 2:
            draw.polygon(polygon, fill=train_id)
    return np.array(img)


def labelids_to_trainids(png_file):
    return common.apply_lut(np.array(Image.open(png_file)), ID_TO_TRAINID)


def convert_one(task):
    kind, src, dst = task
    out = polygons_to_trainids(src) if kind == "polygons" else labelids_to_trainids(src)
    common.save_label(out, dst)
    return dst


def collect_tasks(gt_dir, source):
    """(kind, source file, output file) per annotation stem."""
    polys = {p[:-len(POLY_SUFFIX)]: p for p in common.scandir(gt_dir, POLY_SUFFIX)}
    ids = {p[:-len(IDS_SUFFIX)]: p for p in common.scandir(gt_dir, IDS_SUFFIX)}
    tasks = []
    for stem in sorted(set(polys) | set(ids)):
        if source != "labelIds" and stem in polys:
            tasks.append(("polygons", osp.join(gt_dir, polys[stem])))
        elif source != "polygons" and stem in ids:
            tasks.append(("labelIds", osp.join(gt_dir, ids[stem])))
        else:
            continue
        tasks[-1] = tasks[-1] + (osp.join(gt_dir, stem + OUT_SUFFIX),)
    return tasks


def split_list(gt_dir, split):
    """``city/city_seq_frame`` names of one split (from any annotation kind)."""
    names = set()
    for suffix in (POLY_SUFFIX, IDS_SUFFIX):
        names |= {p[:-len(suffix)] for p in common.scandir(osp.join(gt_dir, split), suffix)}
    return sorted(names)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cityscapes_path", help="folder with leftImg8bit/ and gtFine/")
    parser.add_argument("--gt-dir", default="gtFine")
    parser.add_argument("-o", "--out-dir", help="where the split lists go (default: the dataset)")
    parser.add_argument("--source", choices=["auto", "polygons", "labelIds"], default="auto",
                        help="auto: the polygon json where present, else the labelIds PNG")
    common.add_nproc_arg(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    gt_dir = common.require_dir(osp.join(args.cityscapes_path, args.gt_dir), "annotation folder")
    out_dir = args.out_dir or args.cityscapes_path
    tasks = collect_tasks(gt_dir, args.source)
    if not tasks:
        raise SystemExit(f"error: no *{POLY_SUFFIX} or *{IDS_SUFFIX} files under {gt_dir}")
    common.track_parallel_progress(convert_one, tasks, args.nproc, desc="cityscapes")
    for split in ("train", "val", "test"):
        if osp.isdir(osp.join(gt_dir, split)):
            common.write_list(osp.join(out_dir, f"{split}.txt"), split_list(gt_dir, split))
    print(f"wrote {len(tasks)} *{OUT_SUFFIX} files under {gt_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
