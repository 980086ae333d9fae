"""COCO-Stuff164k: stuffthingmaps PNGs (raw ids 0..181, 255 unlabeled) -> *_labelTrainIds.png.

  python tools/convert_datasets/coco_stuff164k.py data/coco_stuff164k [--nproc 8] [-o OUT]

Reads ``annotations/{train2017,val2017}/*.png`` and writes ``<name>_labelTrainIds.png`` into
OUT/{train2017,val2017} (default: the annotations folder): the 171 used ids become 0..170, the 11
unused ids and 255 become 255 (ignore).
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

SPLITS = ("train2017", "val2017")
OUT_SUFFIX = "_labelTrainIds.png"
LUT = common.label_maps.coco_stuff164k_lut()


def convert_one(mask_path, out_dir):
    out = common.apply_lut(np.array(Image.open(mask_path)), LUT)
    name = osp.splitext(osp.basename(mask_path))[0] + OUT_SUFFIX
    dst = osp.join(out_dir, name)
    common.save_label(out, dst)
    return dst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("coco_path", help="folder with annotations/{train2017,val2017}/*.png")
    parser.add_argument("-o", "--out-dir", help="output annotations folder")
    common.add_nproc_arg(parser)
    args = parser.parse_args(argv)
    ann_root = common.require_dir(osp.join(args.coco_path, "annotations"), "annotations folder")
    out_root = args.out_dir or ann_root
    total = 0
    for split in SPLITS:
        src_dir = osp.join(ann_root, split)
        if not osp.isdir(src_dir):
            print(f"skipping {split}: {src_dir} not found")
            continue
        masks = [osp.join(src_dir, f) for f in common.scandir(src_dir, ".png", recursive=False)
                 if not f.endswith(OUT_SUFFIX)]  # re-runs leave earlier outputs alone
        common.track_parallel_progress(partial(convert_one, out_dir=osp.join(out_root, split)),
                                       masks, args.nproc, desc=split, chunksize=16)
        total += len(masks)
    print(f"converted {total} masks into {out_root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
